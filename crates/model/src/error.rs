//! The error every crate returns across its boundary.
//!
//! Each variant corresponds to one Ruby class (`TaskerCore::ValidationError`, …); the binding
//! maps them in one place. Messages always name the thing at fault (file, step, task id,
//! state, allowed transitions) because they are what a user reads first.

use crate::state::State;
use thiserror::Error;

/// Result alias used across the workspace.
pub type TaskerResult<T> = Result<T, TaskerError>;

/// What went wrong, grouped by who has to act on it.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum TaskerError {
    /// Bad input: a template, a task context, an argument. Nothing was changed.
    #[error("{subject}: {message}")]
    Validation { subject: String, message: String },

    /// A state change the state machine refuses. Nothing was written.
    #[error("{subject} cannot move from {from} to {to}; allowed from {from}: {}", allowed_list(.allowed))]
    StateTransition {
        subject: String,
        from: State,
        to: State,
        allowed: Vec<State>,
    },

    /// An operation that is not valid for a step or task in its current state, other than a
    /// transition (e.g. completing a step that is not handed out). `message` continues the
    /// sentence that `subject` starts: "step 7" + "is not handed out …".
    #[error("{subject} {message}")]
    InvalidState { subject: String, message: String },

    /// Someone else changed the task or step since the caller read it (optimistic check on
    /// the history's sort_key). Nothing was written; read again and retry.
    #[error("{subject} {message}")]
    ConcurrentModification { subject: String, message: String },

    /// The engine cannot do what was asked (stopped, overloaded, an internal failure).
    #[error("{0}")]
    Orchestration(String),

    /// The store failed.
    #[error("{0}")]
    Database(String),

    /// A stored row the store cannot make sense of (JSON it cannot parse, an unknown state,
    /// a bad timestamp): the database answered, and reading that row again will not help.
    /// Ruby sees it as an `UnreadableRowError`, a kind of `DatabaseError`.
    #[error("{0}")]
    Unreadable(String),

    /// A wait ran out of time.
    #[error("{0}")]
    Timeout(String),
}

fn allowed_list(allowed: &[State]) -> String {
    if allowed.is_empty() {
        "none (final state)".to_string()
    } else {
        allowed
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl TaskerError {
    /// A validation error about `subject`.
    pub fn validation(subject: impl Into<String>, message: impl Into<String>) -> Self {
        TaskerError::Validation {
            subject: subject.into(),
            message: message.into(),
        }
    }

    /// A refused step transition, listing what the step table allows from `from`.
    pub fn step_transition(subject: impl Into<String>, from: State, to: State) -> Self {
        TaskerError::StateTransition {
            subject: subject.into(),
            from,
            to,
            allowed: crate::state::step_targets(from).to_vec(),
        }
    }

    /// A refused task transition, listing what the task table allows from `from`.
    pub fn task_transition(subject: impl Into<String>, from: State, to: State) -> Self {
        TaskerError::StateTransition {
            subject: subject.into(),
            from,
            to,
            allowed: crate::state::task_targets(from).to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_message_names_subject_states_and_allowed() {
        let e = TaskerError::step_transition(
            "step 7 (ship) of task 3",
            State::Complete,
            State::Pending,
        );
        assert_eq!(
            e.to_string(),
            "step 7 (ship) of task 3 cannot move from complete to pending; allowed from complete: none (final state)"
        );
        let e = TaskerError::task_transition("task 3", State::Error, State::Complete);
        assert_eq!(
            e.to_string(),
            "task 3 cannot move from error to complete; allowed from error: pending, resolved_manually"
        );
    }
}
