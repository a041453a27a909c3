//! `TaskerCore::Native::Diagnostics`: raises each engine error kind, and panics, through the
//! same translation every real call uses, so specs can prove the mapping end to end even
//! for errors the in-memory store cannot produce (a database failure); and floods an
//! engine's event bus, so a benchmark can measure delivery to Ruby on its own; and writes a
//! message as the engine's threads do, so specs can follow it to the app's logger.

use crate::helpers::errors::{guard, invalid, to_ruby as err};
use crate::helpers::nogvl::nogvl;
use crate::ruby_api::engine::Engine;
use magnus::{function, prelude::*, Error, RModule, Ruby};
use std::sync::Arc;
use tasker_event_bus::{Event, LifecycleEvent};
use tasker_metrics::log::Level;
use tasker_model::{State, StepId, TaskId, TaskerError};

fn raise_engine_error(kind: String) -> Result<(), Error> {
    guard(|| {
        let e = match kind.as_str() {
            "validation" => TaskerError::validation("diagnostics", "a validation error"),
            "state_transition" => TaskerError::step_transition(
                "step 1 (diagnostics)",
                State::Complete,
                State::Pending,
            ),
            "concurrent_modification" => TaskerError::ConcurrentModification {
                subject: "step 1".into(),
                message: "was changed by someone else".into(),
            },
            "orchestration" => TaskerError::Orchestration("an orchestration error".into()),
            "database" => TaskerError::Database("a database error".into()),
            "unreadable" => TaskerError::Unreadable("task 1: an unreadable row".into()),
            "timeout" => TaskerError::Timeout("a timeout".into()),
            other => return Err(invalid("kind", format!("unknown error kind {other:?}"))),
        };
        Err(err(e))
    })
}

fn panic_inside(message: String) -> Result<(), Error> {
    guard(|| panic!("{message}"))
}

/// Publishes `count` synthetic `step.completed` events (task ids 1..=count) straight to
/// `engine`'s bus, in batches of 1,024, as the orchestrator would after a commit.
fn flood_events(engine: &Engine, count: usize) -> Result<(), Error> {
    // Building the events takes no Ruby object: the GVL is let go, so subscribers drain
    // meanwhile as they would while the engine works.
    let inner = engine.inner.clone();
    let outcome = nogvl(move || flood(&inner, count), || {});
    match outcome.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn flood(engine: &tasker_engine::Engine, count: usize) {
    {
        let task_name: Arc<str> = Arc::from("flood");
        let namespace: Arc<str> = Arc::from("diagnostics");
        let step_name: Arc<str> = Arc::from("step");
        let mut sent = 0;
        while sent < count {
            let n = (count - sent).min(1024);
            let batch = (sent..sent + n)
                .map(|i| {
                    let mut e = Event::task(
                        LifecycleEvent::StepCompleted,
                        TaskId(i as i64 + 1),
                        task_name.clone(),
                        namespace.clone(),
                    );
                    e.step_id = Some(StepId(i as i64 + 1));
                    e.step_name = Some(step_name.clone());
                    e.attempt = Some(1);
                    e
                })
                .collect();
            engine.publish_raw_events(batch);
            sent += n;
        }
    }
}

/// Writes `message` as the engine's threads write theirs (`tasker_metrics::log`), from a
/// thread of its own, as they do.
fn log_from_engine_thread(level: String, message: String) -> Result<(), Error> {
    guard(|| {
        let level = match level.as_str() {
            "info" => Level::Info,
            "warn" => Level::Warn,
            "error" => Level::Error,
            other => return Err(invalid("level", format!("unknown level {other:?}"))),
        };
        std::thread::spawn(move || tasker_metrics::log::emit(level, message))
            .join()
            .map_err(|_| invalid("message", "the logging thread panicked"))
    })
}

/// Defines `TaskerCore::Native::Diagnostics`.
pub fn init(ruby: &Ruby, native: &RModule) -> Result<(), Error> {
    let _ = ruby;
    let m = native.define_module("Diagnostics")?;
    m.define_module_function("raise_engine_error", function!(raise_engine_error, 1))?;
    m.define_module_function("panic_inside", function!(panic_inside, 1))?;
    m.define_module_function("flood_events", function!(flood_events, 2))?;
    m.define_module_function(
        "log_from_engine_thread",
        function!(log_from_engine_thread, 2),
    )?;
    Ok(())
}
