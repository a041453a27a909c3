//! The checks every store makes before it writes a change, and the one way a patch updates a
//! step record: one place, so the in-memory and SQL stores refuse the same things with the
//! same words.

use crate::change::StepPatch;
use crate::records::StepRecord;
use tasker_model::{State, TaskerError, TaskerResult, Timestamp};

/// Fails with `ConcurrentModification` when the caller expected another history head.
/// `subject` is built only on failure: this runs for every change.
pub fn check_sort_key(
    subject: impl FnOnce() -> String,
    actual: i32,
    expected: Option<i32>,
) -> TaskerResult<()> {
    match expected {
        Some(e) if e != actual => Err(TaskerError::ConcurrentModification {
            subject: subject(),
            message: format!(
                "was changed by someone else (its history is at sort_key {actual}, not {e}); nothing was written: read it again and retry"
            ),
        }),
        _ => Ok(()),
    }
}

/// A transition's `from` must be the current state and the state machine must allow it.
/// `subject` ("task 7", "step 9 of task 7") is built only on failure.
pub fn check_transition(
    subject: impl FnOnce() -> String,
    current: State,
    from: Option<State>,
    to: State,
    allowed: fn(State, State) -> bool,
) -> TaskerResult<()> {
    let from = from.unwrap_or(State::Pending);
    if from != current {
        return Err(TaskerError::InvalidState {
            subject: subject(),
            message: format!("is {current}, not {from} as the change assumed"),
        });
    }
    if !allowed(from, to) {
        let subject = subject();
        return Err(if subject.starts_with("task") {
            TaskerError::task_transition(subject, from, to)
        } else {
            TaskerError::step_transition(subject, from, to)
        });
    }
    Ok(())
}

/// Applies the columns `patch` sets to `step`.
pub fn patch_step(step: &mut StepRecord, patch: &StepPatch, at: Timestamp) {
    if let Some(v) = patch.in_process {
        step.in_process = v;
    }
    if let Some(v) = patch.processed {
        step.processed = v;
    }
    if let Some(v) = patch.retryable {
        step.retryable = v;
    }
    if let Some(v) = patch.processed_at {
        step.processed_at = Some(v);
    }
    if let Some(v) = patch.attempts {
        step.attempts = Some(v);
    }
    if let Some(v) = patch.retry_limit {
        step.retry_limit = v;
    }
    if let Some(v) = patch.last_attempted_at {
        step.last_attempted_at = Some(v);
    }
    if let Some(v) = patch.backoff_request_seconds {
        step.backoff_request_seconds = v;
    }
    if let Some(v) = &patch.results {
        step.results = Some(v.clone());
    }
    step.updated_at = at;
}
