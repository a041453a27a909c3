//! Tasker's readiness rules 1-8 (TASKER.md, "Readiness") for one step, from its stored
//! fields and whether its parents are satisfied.
//!
//! Owns the rules and the snapshot they read; it must not look at the graph (callers say
//! whether the parents are satisfied) nor at other steps, so it stays a pure function the
//! engine's hot path and the SQL cross-checks can share.

use tasker_model::{State, Timestamp};

/// Retry limit assumed when a step has none stored (rule 4).
pub const DEFAULT_RETRY_LIMIT: u32 = 3;
/// Cap of the error-state backoff of rule 8, in seconds.
pub const ERROR_BACKOFF_CAP_SECONDS: i64 = 30;

/// The stored fields of one step that readiness reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepSnapshot {
    /// Current state (the most_recent transition's `to_state`; pending when none).
    pub state: State,
    pub processed: bool,
    /// Already handed to a worker.
    pub in_process: bool,
    pub retryable: bool,
    /// `None` is a NULL column.
    pub attempts: Option<u32>,
    /// `None` is a NULL column.
    pub retry_limit: Option<u32>,
    pub backoff_request_seconds: Option<i64>,
    pub last_attempted_at: Option<Timestamp>,
    /// `created_at` of the most_recent transition; `None` when the step has no transition.
    pub state_entered_at: Option<Timestamp>,
}

impl StepSnapshot {
    /// A step as it is created: pending, never attempted.
    pub fn fresh(retry_limit: u32, retryable: bool) -> StepSnapshot {
        StepSnapshot {
            state: State::Pending,
            processed: false,
            in_process: false,
            retryable,
            attempts: None,
            retry_limit: Some(retry_limit),
            backoff_request_seconds: None,
            last_attempted_at: None,
            state_entered_at: None,
        }
    }

    /// Rule 4's limit reached: attempts (NULL counts as 0) at or above the retry limit
    /// (NULL counts as [`DEFAULT_RETRY_LIMIT`]). The execution context calls such an
    /// errored step permanently blocked.
    #[inline]
    pub(crate) fn retries_exhausted(&self) -> bool {
        self.attempts.unwrap_or(0) >= self.retry_limit.unwrap_or(DEFAULT_RETRY_LIMIT)
    }
}

/// What the rules say about one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StepReadiness {
    pub ready: bool,
    /// Rule 3: no parents, or every parent complete or resolved_manually.
    pub dependencies_satisfied: bool,
    /// Rules 4 and 5: attempts below the limit and retryable.
    pub retry_eligible: bool,
    /// Rule 7's time when it applies, else rule 8's, else `None`.
    pub next_retry_at: Option<Timestamp>,
}

/// Rule 8's delay after an error: min(2^attempts, 30) seconds, attempts missing counts as 1.
#[inline]
fn error_backoff_micros(attempts: Option<u32>) -> i64 {
    let a = attempts.unwrap_or(1);
    let secs = if a >= 5 {
        ERROR_BACKOFF_CAP_SECONDS
    } else {
        (1i64 << a).min(ERROR_BACKOFF_CAP_SECONDS)
    };
    secs * 1_000_000
}

/// Applies rules 1-8 to one step whose parents' satisfaction is already known.
#[inline]
pub fn step_readiness(
    step: &StepSnapshot,
    dependencies_satisfied: bool,
    now: Timestamp,
) -> StepReadiness {
    let retry_eligible = !step.retries_exhausted() && step.retryable;

    let requested_at = match (step.backoff_request_seconds, step.last_attempted_at) {
        (Some(b), Some(last)) => Some(Timestamp(last.0 + b * 1_000_000)),
        _ => None,
    };
    let error_retry_at = match (step.state, step.state_entered_at) {
        (State::Error, Some(entered)) => {
            Some(Timestamp(entered.0 + error_backoff_micros(step.attempts)))
        }
        _ => None,
    };

    let ready = matches!(step.state, State::Pending | State::Error)
        && !step.processed
        && dependencies_satisfied
        && retry_eligible
        && !step.in_process
        && requested_at.is_none_or(|t| t <= now)
        && error_retry_at.is_none_or(|t| t <= now);

    StepReadiness {
        ready,
        dependencies_satisfied,
        retry_eligible,
        next_retry_at: requested_at.or(error_retry_at),
    }
}
