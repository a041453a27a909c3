//! The manual operations on tasks and steps (the inspection API's `…!` methods): what a
//! caller may ask for, and who asked and why.
//!
//! This is the vocabulary only; the rules that apply an operation to a task are in
//! `live_task/operate.rs`, and [`crate::Engine::operate`] runs one.

use serde_json::Value as Json;
use tasker_model::StepId;

/// A manual operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// error → pending, attempts back to 0, optionally a new retry limit.
    ResetStepForRetry {
        step_id: StepId,
        retry_limit: Option<u32>,
    },
    /// error → pending, attempts kept.
    MarkStepPending { step_id: StepId },
    /// Replace a finished step's results (complete, error or resolved_manually), recorded as a
    /// same-state transition so the edit is audited like any other.
    UpdateStepResults { step_id: StepId, results: Json },
    /// pending/error → resolved_manually, in_progress → complete, with these results.
    MarkStepCompleted { step_id: StepId, results: Json },
    /// → cancelled, with every unfinished step.
    CancelTask,
    /// error → pending → in_progress, failed steps back to pending with attempts at 0.
    RetryTask,
    /// error → resolved_manually.
    ResolveTaskManually,
}

impl Operation {
    /// The name recorded in the transition metadata.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::ResetStepForRetry { .. } => "reset_for_retry",
            Operation::MarkStepPending { .. } => "mark_pending",
            Operation::UpdateStepResults { .. } => "update_results",
            Operation::MarkStepCompleted { .. } => "mark_completed",
            Operation::CancelTask => "cancel",
            Operation::RetryTask => "retry",
            Operation::ResolveTaskManually => "resolve_manually",
        }
    }

    /// The step the operation is about, if it is a step operation.
    pub fn step_id(&self) -> Option<StepId> {
        match self {
            Operation::ResetStepForRetry { step_id, .. }
            | Operation::MarkStepPending { step_id }
            | Operation::UpdateStepResults { step_id, .. }
            | Operation::MarkStepCompleted { step_id, .. } => Some(*step_id),
            _ => None,
        }
    }
}

/// Who asked and why.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    pub reason: Option<String>,
    /// sort_key of the most recent transition of the step (step operations) or the task
    /// (task operations) as the caller last read it.
    pub expect_sort_key: Option<i32>,
}
