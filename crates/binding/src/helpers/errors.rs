//! Error translation: one place maps engine errors and Rust panics to Ruby exceptions.
//!
//! The exception classes are defined in Ruby (`tasker_core/errors.rb`) and looked up by name
//! when raised, so no Ruby value is kept in a static (Ractor safety) and the hierarchy is
//! visible to Ruby readers.

use magnus::{prelude::*, Error, ExceptionClass, RModule, Ruby};
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use tasker_model::TaskerError;

/// The `TaskerCore::<name>` exception class, or RuntimeError when the Ruby side is not
/// loaded (someone required the extension alone).
pub fn class(ruby: &Ruby, name: &str) -> ExceptionClass {
    ruby.class_object()
        .const_get::<_, RModule>("TaskerCore")
        .and_then(|m| m.const_get::<_, ExceptionClass>(name))
        .unwrap_or_else(|_| ruby.exception_runtime_error())
}

/// A `TaskerCore::<name>` error with `message`.
pub fn error(name: &str, message: impl Into<String>) -> Error {
    let ruby = Ruby::get().expect("called from a Ruby thread");
    Error::new(class(&ruby, name), message.into())
}

/// Maps an engine error to its Ruby class.
pub fn to_ruby(e: TaskerError) -> Error {
    let name = match &e {
        TaskerError::Validation { .. } => "ValidationError",
        TaskerError::StateTransition { .. } | TaskerError::InvalidState { .. } => {
            "StateTransitionError"
        }
        TaskerError::ConcurrentModification { .. } => "ConcurrentModificationError",
        TaskerError::Orchestration(_) => "OrchestrationError",
        TaskerError::Database(_) => "DatabaseError",
        TaskerError::Unreadable(_) => "UnreadableRowError",
        TaskerError::Timeout(_) => "TimeoutError",
    };
    error(name, e.to_string())
}

/// A `TaskerCore::ValidationError` naming `subject`.
pub fn invalid(subject: &str, message: impl std::fmt::Display) -> Error {
    error("ValidationError", format!("{subject}: {message}"))
}

fn panic_message(p: &(dyn Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

/// Runs a method body, turning a Rust panic into `TaskerCore::Error` so it never reaches
/// magnus (which would raise `fatal` and end the process).
pub fn guard<T>(f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| Err(from_panic(p)))
}

/// Converts a caught panic's payload into `TaskerCore::Error`.
pub fn from_panic(p: Box<dyn Any + Send>) -> Error {
    error(
        "Error",
        format!(
            "internal error in tasker-core (a Rust panic was caught): {}",
            panic_message(&*p)
        ),
    )
}
