//! Step timeouts: how long an attempt of a step may run, and what happens when it runs
//! longer (the attempt fails with `TaskerCore::TimeoutError`, retried by the usual rules).
//!
//! Plain rules over [`LiveTask`]: they record [`Effects`]. Arming and cancelling the timers
//! is the orchestrator's; refusing the timed-out attempt's late report is the in-flight
//! registry's. Nothing here may send, sleep or read a clock.

use super::{Effects, LiveTask};
use crate::work::StepFailure;
use serde_json::json;
use std::time::Duration;
use tasker_model::{State, Timestamp};

/// The error class a timed-out attempt is recorded with (Ruby's `TaskerCore::TimeoutError`).
pub const TIMEOUT_ERROR_CLASS: &str = "TaskerCore::TimeoutError";

impl LiveTask {
    /// How long an attempt of step `i` may run: the template's timeout for it (the step's
    /// `timeout_seconds`, its `handler_config.timeout_seconds`, the template's
    /// `default_timeout_seconds`), else `engine_default`; `None`: no limit.
    pub fn step_timeout(&self, i: u32, engine_default: Option<Duration>) -> Option<Duration> {
        self.template.timeouts[i as usize].or(engine_default)
    }

    /// Whether attempt `attempt` of step `i` is the one running now (started, not reported):
    /// a timer armed for an earlier attempt, or for a step already reported, is stale.
    pub fn is_running_attempt(&self, i: u32, attempt: u32) -> bool {
        let step = &self.steps[i as usize];
        step.state == State::InProgress && step.in_process && step.attempts + 1 == attempt
    }

    /// Attempt `attempt` of step `i` ran past its `timeout`: it fails with
    /// [`TIMEOUT_ERROR_CLASS`] (retryable, so retried after the backoff while below its
    /// retry limit). The caller has taken the attempt out of the in-flight registry, so the
    /// worker's late report is ignored. Returns false, changing nothing, for a stale timer.
    pub fn time_out(
        &mut self,
        i: u32,
        attempt: u32,
        timeout: Duration,
        at: Timestamp,
        backoff_scale: f64,
        fx: &mut Effects,
    ) -> bool {
        if !self.is_running_attempt(i, attempt) {
            return false;
        }
        let failure = StepFailure {
            error_class: TIMEOUT_ERROR_CLASS.to_string(),
            message: format!(
                "{} (attempt {attempt}) ran longer than its timeout of {} s; the engine stopped waiting for it",
                self.subject(i),
                timeout.as_secs_f64()
            ),
            retryable: true,
            retry_after: None,
            details: Some(json!({"timeout_seconds": timeout.as_secs_f64()})),
        };
        self.fail(i, &failure, at, backoff_scale, fx).is_ok()
    }
}
