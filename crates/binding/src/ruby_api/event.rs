//! `TaskerCore::Event`: one event as a subscriber receives it (the Ruby side reopens the
//! class for docs and helpers).
//!
//! A delivery crosses into Ruby as one small wrapped object holding the engine's shared
//! event: the name, ids and time are read when asked, and the JSON context is converted
//! only when a subscriber reads it, so a subscriber that looks at the name alone pays for
//! nothing else. A gap (events a full buffer lost) is an event too, named
//! [`GAP_EVENT`], whose context says how many were missed.

use crate::helpers::convert::{interned_utf8, time_to_ruby, to_ruby};
use magnus::{method, prelude::*, Error, RModule, Ruby, Value};
use serde_json::json;
use std::sync::Arc;
use tasker_event_bus::{Delivery, Event as CoreEvent};
use tasker_model::Timestamp;

/// The name of the event that reports a gap.
pub const GAP_EVENT: &str = "tasker_core.events_missed";

/// See the module documentation.
#[magnus::wrap(class = "TaskerCore::Event", free_immediately, size)]
pub struct Event {
    inner: Inner,
}

enum Inner {
    Event(Arc<CoreEvent>),
    Gap { missed: u64, noticed_at: Timestamp },
}

impl Event {
    /// Wraps one delivery.
    pub fn new(delivery: Delivery) -> Event {
        Event {
            inner: match delivery {
                Delivery::Event(e) => Inner::Event(e),
                Delivery::Gap { missed } => Inner::Gap {
                    missed,
                    noticed_at: Timestamp::now(),
                },
            },
        }
    }

    /// The name, as an interned frozen String: every event of one name shares one object.
    fn name(&self) -> Value {
        interned_utf8(match &self.inner {
            Inner::Event(e) => e.name(),
            Inner::Gap { .. } => GAP_EVENT,
        })
    }

    /// Whether this delivery is a gap.
    pub fn is_gap(&self) -> bool {
        matches!(self.inner, Inner::Gap { .. })
    }

    fn task_id(&self) -> Option<i64> {
        match &self.inner {
            Inner::Event(e) => Some(e.task_id.0),
            Inner::Gap { .. } => None,
        }
    }

    fn step_id(&self) -> Option<i64> {
        match &self.inner {
            Inner::Event(e) => e.step_id.map(|s| s.0),
            Inner::Gap { .. } => None,
        }
    }

    fn occurred_at(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
        let at = match &rb_self.inner {
            Inner::Event(e) => e.occurred_at,
            Inner::Gap { noticed_at, .. } => *noticed_at,
        };
        time_to_ruby(ruby, at)
    }

    /// Microseconds since the Unix epoch: lets a benchmark read the time without a Time.
    fn occurred_at_us(&self) -> i64 {
        match &self.inner {
            Inner::Event(e) => e.occurred_at.as_micros(),
            Inner::Gap { noticed_at, .. } => noticed_at.as_micros(),
        }
    }

    fn missed(&self) -> u64 {
        match &self.inner {
            Inner::Event(_) => 0,
            Inner::Gap { missed, .. } => *missed,
        }
    }

    /// A new Hash each call; the Ruby side memoizes it.
    fn build_context(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
        match &rb_self.inner {
            Inner::Event(e) => to_ruby(ruby, &e.context()),
            Inner::Gap { missed, .. } => to_ruby(ruby, &json!({ "missed": missed })),
        }
    }
}

/// Defines `TaskerCore::Event`.
pub fn init(ruby: &Ruby, tasker_core: &RModule) -> Result<(), Error> {
    let class = super::wrapped_class(ruby, tasker_core, "Event")?;
    class.const_set("GAP", ruby.str_new(GAP_EVENT).to_interned_str())?;
    class.define_method("name", method!(Event::name, 0))?;
    class.define_method("task_id", method!(Event::task_id, 0))?;
    class.define_method("step_id", method!(Event::step_id, 0))?;
    class.define_method("occurred_at", method!(Event::occurred_at, 0))?;
    class.define_method("occurred_at_us", method!(Event::occurred_at_us, 0))?;
    class.define_method("missed", method!(Event::missed, 0))?;
    class.define_method("build_context", method!(Event::build_context, 0))?;
    Ok(())
}
