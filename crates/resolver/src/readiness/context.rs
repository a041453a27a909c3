//! A task's execution context (TASKER.md): step counts by state, `execution_status`,
//! `recommended_action` and `health_status`, derived from step snapshots and their readiness.
//!
//! Owns the task-level summary only; it must not decide readiness itself (it is handed the
//! answers of `rules`), so the two cannot disagree.

use super::{StepReadiness, StepSnapshot};
use tasker_model::State;

/// `execution_status` of a task, first match wins (TASKER.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionStatus {
    HasReadySteps,
    Processing,
    BlockedByFailures,
    AllComplete,
    WaitingForDependencies,
}

impl ExecutionStatus {
    /// The stored/displayed name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::HasReadySteps => "has_ready_steps",
            ExecutionStatus::Processing => "processing",
            ExecutionStatus::BlockedByFailures => "blocked_by_failures",
            ExecutionStatus::AllComplete => "all_complete",
            ExecutionStatus::WaitingForDependencies => "waiting_for_dependencies",
        }
    }

    /// The matching `recommended_action`.
    pub const fn recommended_action(self) -> &'static str {
        match self {
            ExecutionStatus::HasReadySteps => "execute_ready_steps",
            ExecutionStatus::Processing => "wait_for_completion",
            ExecutionStatus::BlockedByFailures => "handle_failures",
            ExecutionStatus::AllComplete => "finalize_task",
            ExecutionStatus::WaitingForDependencies => "wait_for_dependencies",
        }
    }
}

/// A task's execution context (TASKER.md).
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionContext {
    pub total_steps: usize,
    pub pending_steps: usize,
    pub in_progress_steps: usize,
    /// complete or resolved_manually.
    pub completed_steps: usize,
    /// in error.
    pub failed_steps: usize,
    pub ready_steps: usize,
    /// In error with attempts >= retry_limit.
    pub permanently_blocked_steps: usize,
    pub execution_status: ExecutionStatus,
    /// Percentage of completed steps, rounded to two decimals.
    pub completion_percentage: f64,
    /// healthy, recovering (failed steps, none of them out of retries, or some step
    /// ready) or blocked (a step out of retries and none ready). Tasker's `unknown` cannot
    /// occur.
    pub health_status: &'static str,
}

impl ExecutionContext {
    /// Derives the context from a task's snapshots and their readiness.
    pub fn derive(steps: &[StepSnapshot], readiness: &[StepReadiness]) -> ExecutionContext {
        let mut c = ExecutionContext {
            total_steps: steps.len(),
            pending_steps: 0,
            in_progress_steps: 0,
            completed_steps: 0,
            failed_steps: 0,
            ready_steps: readiness.iter().filter(|r| r.ready).count(),
            permanently_blocked_steps: 0,
            execution_status: ExecutionStatus::WaitingForDependencies,
            completion_percentage: 0.0,
            health_status: "unknown",
        };
        for s in steps {
            match s.state {
                State::Pending => c.pending_steps += 1,
                State::InProgress => c.in_progress_steps += 1,
                State::Complete | State::ResolvedManually => c.completed_steps += 1,
                State::Error => {
                    c.failed_steps += 1;
                    if s.retries_exhausted() {
                        c.permanently_blocked_steps += 1;
                    }
                }
                State::Cancelled => {}
            }
        }
        c.execution_status = if c.ready_steps > 0 {
            ExecutionStatus::HasReadySteps
        } else if c.in_progress_steps > 0 {
            ExecutionStatus::Processing
        } else if c.permanently_blocked_steps > 0 {
            ExecutionStatus::BlockedByFailures
        } else if c.completed_steps == c.total_steps && c.total_steps > 0 {
            // A task without steps is not complete (Tasker's get_task_execution_context).
            ExecutionStatus::AllComplete
        } else {
            ExecutionStatus::WaitingForDependencies
        };
        c.completion_percentage = if c.total_steps == 0 {
            0.0
        } else {
            ((c.completed_steps as f64 / c.total_steps as f64) * 10_000.0).round() / 100.0
        };
        c.health_status = if c.failed_steps == 0 {
            "healthy"
        } else if c.ready_steps > 0 {
            "recovering"
        } else if c.permanently_blocked_steps > 0 {
            "blocked"
        } else {
            // Failures that may still be retried, none ready yet (waiting out a backoff):
            // recovering, as Tasker's get_task_execution_context says (issue 19).
            "recovering"
        };
        c
    }
}
