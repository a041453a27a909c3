//! `TaskerCore::Native::EventSubscription`: a subscriber's end of the event bus, drained by
//! a Ruby thread in batches (GVL released while it waits).
//!
//! `unsubscribe` lets go of the buffer at once rather than when Ruby's GC frees this
//! object: a buffer is allocated whole (tens of kB to MBs) and Ruby's GC does not see that
//! memory, so engines started and stopped in a loop would otherwise pile buffers up.

use crate::helpers::convert::to_seconds;
use crate::helpers::errors::guard;
use crate::helpers::nogvl::{check_interrupts, nogvl};
use crate::ruby_api::event::Event;
use crossbeam_channel::{select, Receiver};
use magnus::{method, prelude::*, Error, RArray, RModule, Ruby, Value};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tasker_engine::{Engine as CoreEngine, ForkLocal};
use tasker_event_bus::{Delivery, SubscriberStats, Subscription};

/// See the module documentation.
#[magnus::wrap(
    class = "TaskerCore::Native::EventSubscription",
    free_immediately,
    size
)]
pub struct EventSubscription {
    /// Leaked, not dropped, when a forked child's GC frees this (see `ForkLocal`).
    engine: ForkLocal<Arc<CoreEngine>>,
    id: u64,
    /// None once unsubscribed. Leaked in a forked child, as `engine`.
    receiver: ForkLocal<Mutex<Option<Receiver<Delivery>>>>,
    stats: Arc<SubscriberStats>,
    /// Gap deliveries handed to Ruby, counted here so the dispatcher need not look at
    /// every event's name.
    gaps: AtomicU64,
}

impl EventSubscription {
    /// Wraps a subscription.
    pub fn new(engine: ForkLocal<Arc<CoreEngine>>, inner: Subscription) -> EventSubscription {
        let Subscription {
            id,
            receiver,
            stats,
        } = inner;
        EventSubscription {
            engine,
            id,
            receiver: ForkLocal::new(Mutex::new(Some(receiver))),
            stats,
            gaps: AtomicU64::new(0),
        }
    }

    /// Up to `max` deliveries as `TaskerCore::Event`s (a gap is one too), waiting up to
    /// `timeout` seconds with the GVL released when none is buffered.
    fn next(ruby: &Ruby, rb_self: &Self, max: usize, timeout: Value) -> Result<RArray, Error> {
        guard(|| {
            let timeout = to_seconds(timeout, "timeout")?;
            // A clone, so an unsubscribe from another thread never waits for this drain.
            let Some(rx) = rb_self.receiver.lock().clone() else {
                return Ok(ruby.ary_new());
            };
            let rx = &rx;
            let mut items: Vec<Delivery> = rx.try_iter().take(max.max(1)).collect();
            if items.is_empty() && !timeout.is_zero() {
                let (wake_tx, wake_rx) = crossbeam_channel::bounded::<()>(1);
                // The wake channel alone ends the select: nothing here watches an Interrupt.
                let outcome = nogvl(
                    || {
                        select! {
                            recv(rx) -> d => d.ok(),
                            recv(wake_rx) -> _ => None,
                            default(timeout) => None,
                        }
                    },
                    || {
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
                let event = Event::new(d);
                if event.is_gap() {
                    rb_self.gaps.fetch_add(1, Ordering::Relaxed);
                }
                out.push(event)?;
            }
            Ok(out)
        })
    }

    fn delivered(&self) -> u64 {
        self.stats.delivered.load(Ordering::Relaxed)
    }

    fn dropped(&self) -> u64 {
        self.stats.dropped.load(Ordering::Relaxed)
    }

    fn gaps(&self) -> u64 {
        self.gaps.load(Ordering::Relaxed)
    }

    fn lag(&self) -> usize {
        self.receiver.lock().as_ref().map_or(0, |rx| rx.len())
    }

    fn unsubscribe(&self) {
        // In a forked child the bus and its actor are the parent's: sending to them wakes
        // a task on a thread that is not here, and the receiver stays leaked (`ForkLocal`).
        if self.engine.forked() {
            return;
        }
        self.engine.unsubscribe(self.id);
        self.receiver.lock().take();
    }
}

/// Defines `TaskerCore::Native::EventSubscription`.
pub fn init(ruby: &Ruby, native: &RModule) -> Result<(), Error> {
    let class = super::wrapped_class(ruby, native, "EventSubscription")?;
    class.define_method("next", method!(EventSubscription::next, 2))?;
    class.define_method("delivered", method!(EventSubscription::delivered, 0))?;
    class.define_method("dropped", method!(EventSubscription::dropped, 0))?;
    class.define_method("lag", method!(EventSubscription::lag, 0))?;
    class.define_method("gaps", method!(EventSubscription::gaps, 0))?;
    class.define_method("unsubscribe", method!(EventSubscription::unsubscribe, 0))?;
    Ok(())
}
