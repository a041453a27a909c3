//! The manual operations applied to a task ([`crate::operations`] says what each one does).
//!
//! Each one checks that the current state allows it (else a `StateTransitionError` naming
//! the current state and the allowed ones), checks the caller's view of the history is
//! current (optimistic check on sort_key, else `ConcurrentModification`), and appends a
//! transition whose metadata records the operation, the caller's reason and the time.
//! History is never rewritten. Plain rules over [`LiveTask`]: on a refusal nothing has
//! moved, and nothing here sends anything.

use super::{processed, Effects, LiveTask};
use crate::operations::{Operation, Request};
use serde_json::json;
use std::borrow::Cow;
use std::sync::Arc;
use tasker_model::{State, StepId, TaskerError, TaskerResult, Timestamp};
use tasker_state::{Change, StepPatch, TransitionMeta};

fn meta(op: &Operation, request: &Request, now: Timestamp) -> TransitionMeta {
    TransitionMeta {
        reason: Cow::Owned(
            request
                .reason
                .clone()
                .unwrap_or_else(|| op.name().to_string()),
        ),
        actor: Cow::Borrowed("api"),
        extra: Some(json!({"operation": op.name(), "requested_at": now.to_rfc3339()})),
        ..TransitionMeta::default()
    }
}

/// Puts the caller's expected sort_key on the first change of this operation, so the store
/// double-checks it inside the transaction.
fn expect_on_first(fx: &mut Effects, from: usize, expect: Option<i32>) {
    if let Some(change) = fx.changes.get_mut(from) {
        change.set_expect_sort_key(expect);
    }
}

impl LiveTask {
    fn step_index(&self, step_id: StepId) -> TaskerResult<u32> {
        self.steps
            .iter()
            .position(|s| s.id == step_id)
            .map(|i| i as u32)
            .ok_or_else(|| {
                TaskerError::validation(
                    format!("step {step_id}"),
                    format!("is not a step of task {}", self.id),
                )
            })
    }

    fn check_sort_key(
        &self,
        subject: String,
        actual: i32,
        expect: Option<i32>,
    ) -> TaskerResult<()> {
        tasker_state::checks::check_sort_key(|| subject, actual, expect)
    }

    /// Applies `op`. On error nothing has changed (checks come before any move).
    pub fn operate(
        &mut self,
        op: &Operation,
        request: &Request,
        now: Timestamp,
        backoff_scale: f64,
        fx: &mut Effects,
    ) -> TaskerResult<()> {
        let first_change = fx.changes.len();
        let meta = meta(op, request, now);
        match op {
            Operation::ResetStepForRetry {
                step_id,
                retry_limit,
            } => {
                let i = self.step_index(*step_id)?;
                self.require_step(i, &[State::Error], State::Pending, request)?;
                let step = &mut self.steps[i as usize];
                step.attempts = 0;
                step.retryable = true;
                if let Some(limit) = retry_limit {
                    step.retry_limit = *limit;
                }
                self.unschedule_retry(i);
                let patch = StepPatch {
                    attempts: Some(0),
                    retryable: Some(true),
                    retry_limit: *retry_limit,
                    backoff_request_seconds: Some(None),
                    ..StepPatch::default()
                };
                self.move_step(i, State::Pending, meta, now, patch, fx);
                self.resume_after_operation(now, backoff_scale, fx);
            }
            Operation::MarkStepPending { step_id } => {
                let i = self.step_index(*step_id)?;
                self.require_step(i, &[State::Error], State::Pending, request)?;
                self.unschedule_retry(i);
                self.move_step(i, State::Pending, meta, now, StepPatch::default(), fx);
                self.resume_after_operation(now, backoff_scale, fx);
            }
            Operation::UpdateStepResults { step_id, results } => {
                let i = self.step_index(*step_id)?;
                let step = &self.steps[i as usize];
                self.check_sort_key(self.subject(i), step.sort_key, request.expect_sort_key)?;
                if step.in_process || !step.state.step_can_amend() {
                    return Err(TaskerError::InvalidState {
                        subject: self.subject(i),
                        message: format!(
                            "is {}{}: update_results needs it in one of {}",
                            step.state,
                            if step.in_process {
                                " and handed to a worker"
                            } else {
                                ""
                            },
                            tasker_model::state::STEP_AMENDABLE
                                .map(|s| s.as_str())
                                .join(", ")
                        ),
                    });
                }
                let results = Arc::new(results.clone());
                self.steps[i as usize].results = Some(results.clone());
                let patch = StepPatch {
                    results: Some(results),
                    ..StepPatch::default()
                };
                self.amend_step(i, meta, now, patch, fx);
            }
            Operation::MarkStepCompleted { step_id, results } => {
                let i = self.step_index(*step_id)?;
                let to = match self.steps[i as usize].state {
                    State::InProgress => State::Complete,
                    _ => State::ResolvedManually,
                };
                self.require_step(
                    i,
                    &[State::Pending, State::Error, State::InProgress],
                    to,
                    request,
                )?;
                let was_handed_out = self.steps[i as usize].in_process;
                if was_handed_out {
                    self.handed_out -= 1;
                    fx.released.push(*step_id);
                }
                self.unschedule_retry(i);
                let results = Arc::new(results.clone());
                let step = &mut self.steps[i as usize];
                step.in_process = false;
                step.results = Some(results.clone());
                self.move_step(i, to, meta, now, processed(results, now), fx);
                self.completed += 1;
                let mut ready = Vec::new();
                self.dag.satisfy(&self.template.graph, i, &mut ready);
                self.resume_after_operation(now, backoff_scale, fx);
            }
            Operation::CancelTask => {
                self.require_task(State::Cancelled, request)?;
                self.move_task(State::Cancelled, meta.clone(), now, fx);
                for i in 0..self.steps.len() as u32 {
                    let step = &self.steps[i as usize];
                    if !matches!(
                        step.state,
                        State::Pending | State::Error | State::InProgress
                    ) {
                        continue;
                    }
                    if step.in_process {
                        fx.released.push(step.id);
                    }
                    self.unschedule_retry(i);
                    self.steps[i as usize].in_process = false;
                    let patch = StepPatch {
                        in_process: Some(false),
                        ..StepPatch::default()
                    };
                    self.move_step(i, State::Cancelled, meta.clone(), now, patch, fx);
                }
                self.handed_out = 0;
                self.emit(
                    fx,
                    tasker_event_bus::LifecycleEvent::TaskCancelled,
                    None,
                    |_| {},
                );
                fx.finished = Some(State::Cancelled);
            }
            Operation::RetryTask => {
                self.require_task(State::Pending, request)?;
                self.move_task(State::Pending, meta.clone(), now, fx);
                for i in 0..self.steps.len() as u32 {
                    if self.steps[i as usize].state != State::Error {
                        continue;
                    }
                    self.unschedule_retry(i);
                    let step = &mut self.steps[i as usize];
                    step.attempts = 0;
                    step.retryable = true;
                    let patch = StepPatch {
                        attempts: Some(0),
                        retryable: Some(true),
                        backoff_request_seconds: Some(None),
                        ..StepPatch::default()
                    };
                    self.move_step(i, State::Pending, meta.clone(), now, patch, fx);
                }
                self.emit(
                    fx,
                    tasker_event_bus::LifecycleEvent::TaskRetryRequested,
                    None,
                    |_| {},
                );
                self.move_task(State::InProgress, TransitionMeta::engine("resume"), now, fx);
                self.resume(now, backoff_scale, fx);
            }
            Operation::ResolveTaskManually => {
                self.require_task(State::ResolvedManually, request)?;
                self.move_task(State::ResolvedManually, meta, now, fx);
                fx.finished = Some(State::ResolvedManually);
            }
        }
        expect_on_first(fx, first_change, request.expect_sort_key);
        Ok(())
    }

    /// The caller's view is checked first: a refusal based on a stale view would mislead.
    fn require_step(
        &self,
        i: u32,
        from: &[State],
        to: State,
        request: &Request,
    ) -> TaskerResult<()> {
        let step = &self.steps[i as usize];
        self.check_sort_key(self.subject(i), step.sort_key, request.expect_sort_key)?;
        if !from.contains(&step.state) || !step.state.step_can_transition_to(to) {
            return Err(TaskerError::step_transition(
                self.subject(i),
                step.state,
                to,
            ));
        }
        Ok(())
    }

    fn require_task(&self, to: State, request: &Request) -> TaskerResult<()> {
        let subject = format!("task {}", self.id);
        let allowed = match to {
            // retry: only a task in error goes back to pending.
            State::Pending => self.state == State::Error,
            _ => self.state.task_can_transition_to(to),
        };
        self.check_sort_key(subject.clone(), self.sort_key, request.expect_sort_key)?;
        if !allowed {
            return Err(TaskerError::task_transition(subject, self.state, to));
        }
        Ok(())
    }

    /// Appends a transition that keeps the step's state (an amendment, see
    /// `State::step_can_amend`), so a by-hand edit moves the history head like any change and
    /// a concurrent editor's optimistic check notices it.
    fn amend_step(
        &mut self,
        i: u32,
        meta: TransitionMeta,
        at: Timestamp,
        patch: StepPatch,
        fx: &mut Effects,
    ) {
        let step = &mut self.steps[i as usize];
        step.sort_key += 1;
        fx.changes.push(Change::StepTransition {
            task_id: self.id,
            step_id: step.id,
            from: Some(step.state),
            to: step.state,
            meta,
            at,
            patch,
            expect_sort_key: None,
        });
    }

    fn unschedule_retry(&mut self, i: u32) {
        let step = &mut self.steps[i as usize];
        if step.retry_scheduled {
            step.retry_scheduled = false;
            self.retries_pending -= 1;
        }
    }

    /// After a step operation: a task that had failed resumes (error → pending →
    /// in_progress); a running one hands out what became ready and may finish.
    fn resume_after_operation(&mut self, now: Timestamp, backoff_scale: f64, fx: &mut Effects) {
        if self.state == State::Error {
            self.move_task(
                State::Pending,
                TransitionMeta::engine("manual_step_change"),
                now,
                fx,
            );
            self.move_task(State::InProgress, TransitionMeta::engine("resume"), now, fx);
        }
        self.resume(now, backoff_scale, fx);
    }
}
