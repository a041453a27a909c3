//! What a worker's report does to a task: a step completes (its children may become ready)
//! or fails (retried after a backoff, or left in error), a running handler publishes a
//! custom event, and the task finishes once nothing else can run.
//!
//! These are plain rules over [`LiveTask`]: they record [`Effects`] and must not send
//! anything themselves, nor decide whether a report is accepted (the in-flight registry
//! does, on the caller's thread).

use super::{processed, Effects, LiveTask};
use crate::work::StepFailure;
use serde_json::{json, Value as Json};
use std::sync::Arc;
use std::time::Duration;
use tasker_event_bus::{Event, EventName, LifecycleEvent};
use tasker_model::retry::retry_delay_seconds;
use tasker_model::{State, TaskerError, TaskerResult, Timestamp};
use tasker_state::{StepPatch, TransitionMeta};

impl LiveTask {
    /// A worker's report ends step `i`'s attempt, which moves it to `to`: the step must be
    /// running (a report that overtook its start notice starts it first), and it no longer
    /// counts as handed out. Returns how long the attempt ran. Refuses, changing nothing,
    /// when the step is not running.
    fn end_attempt(
        &mut self,
        i: u32,
        to: State,
        at: Timestamp,
        fx: &mut Effects,
    ) -> TaskerResult<Option<f64>> {
        if self.steps[i as usize].state == State::Pending && self.steps[i as usize].in_process {
            self.started(i, at, fx);
        }
        let step = &self.steps[i as usize];
        if step.state != State::InProgress {
            return Err(TaskerError::step_transition(
                self.subject(i),
                step.state,
                to,
            ));
        }
        self.handed_out -= 1;
        let step = &mut self.steps[i as usize];
        step.in_process = false;
        Ok(step.started_at.map(|s| at.seconds_since(s) * 1000.0))
    }

    /// Step `i` succeeded with `results`; its children whose parents are now all satisfied
    /// become ready (unless `dispatch_children` is false, during shutdown).
    pub fn complete(
        &mut self,
        i: u32,
        results: Arc<Json>,
        at: Timestamp,
        dispatch_children: bool,
        fx: &mut Effects,
    ) -> TaskerResult<()> {
        let duration_ms = self.end_attempt(i, State::Complete, at, fx)?;
        self.steps[i as usize].results = Some(results.clone());
        self.completed += 1;
        let meta = TransitionMeta {
            duration_ms,
            attempt: Some(self.steps[i as usize].attempts + 1),
            ..TransitionMeta::engine("handler_succeeded")
        };
        self.move_step(i, State::Complete, meta, at, processed(results, at), fx);
        self.emit(fx, LifecycleEvent::StepCompleted, Some(i), |e| {
            e.duration_ms = duration_ms
        });

        let mut ready = Vec::new();
        self.dag.satisfy(&self.template.graph, i, &mut ready);
        if dispatch_children {
            for child in ready {
                let c = &self.steps[child as usize];
                if c.state == State::Pending && !c.in_process {
                    fx.dispatch.push(child);
                }
            }
            self.discovered(fx);
        }
        self.check_finished(at, fx);
        Ok(())
    }

    /// Step `i` failed. It is retried after the backoff while it is retryable and below its
    /// retry limit; otherwise it stays in error, and the task fails once nothing else can run.
    pub fn fail(
        &mut self,
        i: u32,
        failure: &StepFailure,
        at: Timestamp,
        backoff_scale: f64,
        fx: &mut Effects,
    ) -> TaskerResult<()> {
        let duration_ms = self.end_attempt(i, State::Error, at, fx)?;
        let step = &mut self.steps[i as usize];
        step.attempts += 1;
        if !failure.retryable {
            step.retryable = false;
        }
        let attempts = step.attempts;
        let will_retry = step.retryable && attempts < step.retry_limit;
        self.last_error = Some((failure.error_class.clone(), failure.message.clone()));
        let meta = TransitionMeta {
            error_class: Some(failure.error_class.clone()),
            error_message: Some(failure.message.clone()),
            duration_ms,
            attempt: Some(attempts),
            extra: failure.details.clone(),
            ..TransitionMeta::engine(if !failure.retryable {
                "permanent_error"
            } else if will_retry {
                "handler_failed"
            } else {
                "retries_exhausted"
            })
        };
        let patch = StepPatch {
            in_process: Some(false),
            attempts: Some(attempts),
            last_attempted_at: Some(at),
            retryable: (!failure.retryable).then_some(false),
            backoff_request_seconds: Some(failure.retry_after.map(|s| s.ceil() as i64)),
            ..StepPatch::default()
        };
        self.move_step(i, State::Error, meta, at, patch, fx);
        let fill = |e: &mut Event| {
            e.attempt = Some(attempts);
            e.duration_ms = duration_ms;
            e.error_class = Some(failure.error_class.clone());
            e.error_message = Some(failure.message.clone());
            e.error_details = failure.details.clone().map(Arc::new);
        };
        self.emit(fx, LifecycleEvent::StepFailed, Some(i), fill);
        if will_retry {
            let delay = retry_delay_seconds(
                attempts,
                failure.retry_after,
                fastrand::f64(),
                backoff_scale,
            );
            self.steps[i as usize].retry_scheduled = true;
            self.retries_pending += 1;
            fx.retries.push((i, Duration::from_secs_f64(delay)));
            self.emit(fx, LifecycleEvent::StepRetryRequested, Some(i), |e| {
                e.attempt = Some(attempts + 1);
                e.payload = Some(Arc::new(json!({"retry_in_seconds": delay})));
            });
        }
        self.check_finished(at, fx);
        Ok(())
    }

    /// Finishes the task when every step is satisfied (complete), or when nothing is handed
    /// out and no retry is scheduled yet some step is unsatisfied (error).
    pub(crate) fn check_finished(&mut self, at: Timestamp, fx: &mut Effects) {
        if self.state != State::InProgress {
            return;
        }
        let total = self.steps.len() as u32;
        if self.completed == total {
            self.move_task(
                State::Complete,
                TransitionMeta::engine("all_steps_complete"),
                at,
                fx,
            );
            self.emit(fx, LifecycleEvent::TaskCompleted, None, |_| {});
            fx.finished = Some(State::Complete);
        } else if self.handed_out == 0
            && self.retries_pending == 0
            && fx.dispatch.is_empty()
            && self.deferred.is_empty()
        {
            let (class, message) = self.last_error.clone().unwrap_or_default();
            let meta = TransitionMeta {
                error_class: Some(class.clone()),
                error_message: Some(message.clone()),
                ..TransitionMeta::engine("steps_failed")
            };
            self.move_task(State::Error, meta, at, fx);
            self.emit(fx, LifecycleEvent::TaskFailed, None, |e| {
                e.error_class = Some(class);
                e.error_message = Some(message);
            });
            fx.finished = Some(State::Error);
        }
    }

    /// A custom event published by a handler of this task, checked against the template's
    /// `custom_events` when it lists them.
    pub fn custom_event(
        &self,
        i: u32,
        name: &str,
        payload: Arc<Json>,
        fx: &mut Effects,
    ) -> TaskerResult<()> {
        if let Some(allowed) = &self.template.template.custom_events {
            if !allowed.iter().any(|a| a == name) {
                return Err(TaskerError::validation(
                    format!("custom event '{name}' from {}", self.subject(i)),
                    format!(
                        "not declared in the template's custom_events ({})",
                        allowed.join(", ")
                    ),
                ));
            }
        }
        if fx.events_wanted.wants_custom() {
            let mut e = Event::named(
                EventName::Custom(Arc::from(name)),
                self.id,
                self.template.task_name.clone(),
                self.template.namespace.clone(),
            );
            e.step_id = Some(self.steps[i as usize].id);
            e.step_name = Some(self.template.graph.name(i).clone());
            e.payload = Some(payload);
            fx.events.push(e);
        }
        Ok(())
    }
}
