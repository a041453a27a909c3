//! `TaskerCore::Native::LogDrain`: the Ruby end of the messages the engine's and the store's
//! threads have for the app's logger (`tasker_metrics::log`), taken in batches by one Ruby
//! thread (`TaskerCore::EngineLog`) with the GVL released while it waits.
//!
//! It must not write to a logger itself: Rust never calls Ruby, so the Ruby thread does.

use crate::helpers::convert::to_seconds;
use crate::helpers::errors::guard;
use crate::helpers::nogvl::{check_interrupts, nogvl};
use magnus::{function, method, prelude::*, Error, RArray, RModule, Ruby, Value};
use parking_lot::Mutex;
use std::sync::Arc;
use tasker_metrics::log::Drain;

/// See the module documentation.
#[magnus::wrap(class = "TaskerCore::Native::LogDrain", free_immediately, size)]
pub struct LogDrain {
    /// None once closed; shared with a `take` in progress so `close` never waits for it.
    drain: Mutex<Option<Arc<Drain>>>,
}

impl LogDrain {
    /// Attaches: from now on the threads' messages wait for `take` instead of going to stderr.
    fn attach() -> LogDrain {
        LogDrain {
            drain: Mutex::new(Some(Arc::new(Drain::attach()))),
        }
    }

    /// Up to `max` messages as `[level, text]` pairs (level: "info", "warn" or "error"),
    /// waiting up to `timeout` seconds for the first; none once closed.
    fn take(ruby: &Ruby, rb_self: &Self, max: usize, timeout: Value) -> Result<RArray, Error> {
        guard(|| {
            let timeout = to_seconds(timeout, "timeout")?;
            let Some(drain) = rb_self.drain.lock().clone() else {
                return Ok(ruby.ary_new());
            };
            // Read before the GVL goes: a kill whose unblock runs before the wait starts
            // still ends it.
            let seen = drain.interrupts();
            let outcome = nogvl(|| drain.take(max, timeout, seen), || drain.interrupt());
            let messages = outcome.value.unwrap_or_default();
            // Killed or raised into with messages in hand: they go back (or to stderr), not
            // away with this thread.
            if let Err(e) = outcome.error.map_or_else(check_interrupts, Err) {
                drain.give_back(messages);
                return Err(e);
            }
            let out = ruby.ary_new_capa(messages.len());
            for (level, text) in messages {
                out.push((level.name(), text))?;
            }
            Ok(out)
        })
    }

    /// Detaches now: with no drain left, what is still queued and every later message go to
    /// stderr; a `take` waiting meanwhile returns none.
    fn close(&self) {
        if let Some(drain) = self.drain.lock().take() {
            drain.detach();
            drain.interrupt();
        }
    }
}

/// Defines `TaskerCore::Native::LogDrain`.
pub fn init(ruby: &Ruby, native: &RModule) -> Result<(), Error> {
    let class = super::wrapped_class(ruby, native, "LogDrain")?;
    class.define_singleton_method("attach", function!(LogDrain::attach, 0))?;
    class.define_method("take", method!(LogDrain::take, 2))?;
    class.define_method("close", method!(LogDrain::close, 0))?;
    Ok(())
}
