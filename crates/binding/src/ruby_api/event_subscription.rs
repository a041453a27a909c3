//! `TaskerCore::Native::EventSubscription`: a subscriber's end of the event bus, drained by
//! a Ruby thread in batches (GVL released while it waits).

use crate::helpers::convert::to_seconds;
use crate::helpers::errors::guard;
use crate::helpers::nogvl::{check_interrupts, nogvl};
use crate::ruby_api::event::Event;
use crossbeam_channel::select;
use magnus::{method, prelude::*, Error, RArray, RModule, Ruby, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tasker_engine::engine::Interrupt;
use tasker_engine::Engine as CoreEngine;
use tasker_event_bus::{Delivery, Subscription};

/// See the module documentation.
#[magnus::wrap(
    class = "TaskerCore::Native::EventSubscription",
    free_immediately,
    size
)]
pub struct EventSubscription {
    engine: Arc<CoreEngine>,
    inner: Subscription,
}

impl EventSubscription {
    /// Wraps a subscription.
    pub fn new(engine: Arc<CoreEngine>, inner: Subscription) -> EventSubscription {
        EventSubscription { engine, inner }
    }

    /// Up to `max` deliveries as `TaskerCore::Event`s (a gap is one too), waiting up to
    /// `timeout` seconds with the GVL released when none is buffered.
    fn next(ruby: &Ruby, rb_self: &Self, max: usize, timeout: Value) -> Result<RArray, Error> {
        guard(|| {
            let timeout = to_seconds(timeout, "timeout")?;
            let rx = &rb_self.inner.receiver;
            let mut items: Vec<Delivery> = rx.try_iter().take(max.max(1)).collect();
            if items.is_empty() && !timeout.is_zero() {
                let interrupt = Interrupt::default();
                let (wake_tx, wake_rx) = crossbeam_channel::bounded::<()>(1);
                let outcome = nogvl(
                    || {
                        select! {
                            recv(rx) -> d => d.ok(),
                            recv(wake_rx) -> _ => None,
                            default(timeout) => None,
                        }
                    },
                    || {
                        interrupt.trigger();
                        let _ = wake_tx.try_send(());
                    },
                );
                if let Some(e) = outcome.error {
                    return Err(e);
                }
                if let Some(Some(first)) = outcome.value {
                    items.push(first);
                    items.extend(rx.try_iter().take(max.max(1) - 1));
                }
                check_interrupts()?;
            }
            let out = ruby.ary_new_capa(items.len());
            for d in items {
                out.push(Event::new(d))?;
            }
            Ok(out)
        })
    }

    fn delivered(&self) -> u64 {
        self.inner.stats.delivered.load(Ordering::Relaxed)
    }

    fn dropped(&self) -> u64 {
        self.inner.stats.dropped.load(Ordering::Relaxed)
    }

    fn lag(&self) -> usize {
        self.inner.lag()
    }

    fn unsubscribe(&self) {
        self.engine.unsubscribe(self.inner.id);
    }
}

/// Defines `TaskerCore::Native::EventSubscription`.
pub fn init(ruby: &Ruby, native: &RModule) -> Result<(), Error> {
    let class = native.define_class("EventSubscription", ruby.class_object())?;
    class.undef_default_alloc_func();
    class.define_method("next", method!(EventSubscription::next, 2))?;
    class.define_method("delivered", method!(EventSubscription::delivered, 0))?;
    class.define_method("dropped", method!(EventSubscription::dropped, 0))?;
    class.define_method("lag", method!(EventSubscription::lag, 0))?;
    class.define_method("unsubscribe", method!(EventSubscription::unsubscribe, 0))?;
    Ok(())
}
