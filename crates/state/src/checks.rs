//! The checks every store makes before it writes a change, and the one way a patch updates a
//! step record: one place, so the in-memory and SQL stores refuse the same things with the
//! same words.

use crate::change::StepPatch;
use crate::records::StepRecord;
use tasker_model::{State, StepId, TaskId, TaskerError, TaskerResult, Timestamp};

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

/// What a transition moves: it names the thing in a refusal and says which state machine
/// applies.
#[derive(Debug, Clone, Copy)]
pub enum Moving {
    /// A task.
    Task(TaskId),
    /// A step, and the task it belongs to.
    Step(TaskId, StepId),
}

impl Moving {
    /// "task 7" or "step 9 of task 7": built only on failure, as the checks run for every
    /// change.
    fn subject(self) -> String {
        match self {
            Moving::Task(task_id) => format!("task {task_id}"),
            Moving::Step(task_id, step_id) => format!("step {step_id} of task {task_id}"),
        }
    }
}

/// The checks on a transition, in the order every store makes them: the caller's history
/// head (`key`, the latest sort_key), then `from` must be the current state, then the
/// state machine of what moves must allow it.
pub fn check_change(
    moving: Moving,
    (current, key): (State, i32),
    from: Option<State>,
    to: State,
    expect_sort_key: Option<i32>,
) -> TaskerResult<()> {
    check_sort_key(|| moving.subject(), key, expect_sort_key)?;
    let from = from.unwrap_or(State::Pending);
    if from != current {
        return Err(TaskerError::InvalidState {
            subject: moving.subject(),
            message: format!("is {current}, not {from} as the change assumed"),
        });
    }
    match moving {
        Moving::Task(_) if !from.task_can_transition_to(to) => {
            Err(TaskerError::task_transition(moving.subject(), from, to))
        }
        Moving::Step(..) if !step_allows(from, to) => {
            Err(TaskerError::step_transition(moving.subject(), from, to))
        }
        _ => Ok(()),
    }
}

/// The step state machine, plus amendments: a same-state transition in a state whose
/// results may be replaced by hand (`State::step_can_amend`).
fn step_allows(from: State, to: State) -> bool {
    from.step_can_transition_to(to) || (from == to && from.step_can_amend())
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

/// Folds `patch` into `into`, a patch of the same step written earlier: later fields win
/// (the SQL stores write a batch's patches of a step as one update).
pub(crate) fn merge_patch(into: &mut StepPatch, patch: &StepPatch) {
    // `or`: what the later patch sets wins, what it leaves unset keeps the earlier value.
    into.in_process = patch.in_process.or(into.in_process);
    into.processed = patch.processed.or(into.processed);
    into.retryable = patch.retryable.or(into.retryable);
    into.processed_at = patch.processed_at.or(into.processed_at);
    into.attempts = patch.attempts.or(into.attempts);
    into.retry_limit = patch.retry_limit.or(into.retry_limit);
    into.last_attempted_at = patch.last_attempted_at.or(into.last_attempted_at);
    into.backoff_request_seconds = patch
        .backoff_request_seconds
        .or(into.backoff_request_seconds);
    if patch.results.is_some() {
        into.results = patch.results.clone();
    }
}
