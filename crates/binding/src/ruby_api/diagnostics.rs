//! `TaskerCore::Native::Diagnostics`: raises each engine error kind, and panics, through the
//! same translation every real call uses, so specs can prove the mapping end to end even
//! for errors the in-memory store cannot produce (a database failure).

use crate::helpers::errors::{guard, invalid, to_ruby as err};
use magnus::{function, prelude::*, Error, RModule, Ruby};
use tasker_model::{State, TaskerError};

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
            "timeout" => TaskerError::Timeout("a timeout".into()),
            other => return Err(invalid("kind", format!("unknown error kind {other:?}"))),
        };
        Err(err(e))
    })
}

fn panic_inside(message: String) -> Result<(), Error> {
    guard(|| panic!("{message}"))
}

/// Defines `TaskerCore::Native::Diagnostics`.
pub fn init(ruby: &Ruby, native: &RModule) -> Result<(), Error> {
    let _ = ruby;
    let m = native.define_module("Diagnostics")?;
    m.define_module_function("raise_engine_error", function!(raise_engine_error, 1))?;
    m.define_module_function("panic_inside", function!(panic_inside, 1))?;
    Ok(())
}
