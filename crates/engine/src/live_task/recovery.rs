//! Bringing a stored task back to life: after a restart, or to run a manual operation on a
//! task this engine is not driving.
//!
//! After a restart (`restart: true`) every step that was handed out or running when the
//! process died gets an error transition with reason `engine_restart` and one more attempt
//! counted; it is then retried under the normal rules. A step whose completion was committed
//! is complete in the store and never runs again.
//!
//! Plain rules over [`LiveTask`]: they must not read the store (the caller hands in the
//! stored view).

use super::{Effects, LiveStep, LiveTask};
use crate::registry::RegisteredTemplate;
use std::sync::Arc;
use std::time::Duration;
use tasker_model::retry::retry_delay_seconds;
use tasker_model::{State, TaskerError, TaskerResult, Timestamp};
use tasker_resolver::RuntimeDag;
use tasker_state::{StepPatch, TaskView, TransitionMeta};

impl LiveTask {
    /// Rebuilds a task from its stored view. Steps are matched to the template by name.
    pub fn restore(
        view: &TaskView,
        template: Arc<RegisteredTemplate>,
        restart: bool,
        now: Timestamp,
        fx: &mut Effects,
    ) -> TaskerResult<LiveTask> {
        let id = view.task.task_id;
        let n = template.graph.len();
        let mismatch = || {
            TaskerError::Orchestration(format!(
                "task {id}: its stored steps do not match template {} (was the template changed without a new version?)",
                template.key
            ))
        };
        if view.steps.len() != n {
            return Err(mismatch());
        }
        let mut slots: Vec<Option<LiveStep>> = vec![None; n];
        for s in &view.steps {
            let i = template.graph.index_of(&s.step.name).ok_or_else(mismatch)? as usize;
            slots[i] = Some(LiveStep {
                id: s.step.step_id,
                state: s.state,
                attempts: s.step.attempts.unwrap_or(0),
                retry_limit: s.step.retry_limit,
                retryable: s.step.retryable,
                in_process: s.step.in_process,
                retry_scheduled: false,
                results: s.step.results.clone(),
                started_at: None,
                sort_key: s.transitions.last().map_or(0, |t| t.sort_key),
            });
        }
        let steps: Vec<LiveStep> = slots
            .into_iter()
            .collect::<Option<_>>()
            .ok_or_else(mismatch)?;
        let mut dag = RuntimeDag::new(&template.graph);
        let mut ignored = Vec::new();
        let mut completed = 0;
        for (i, s) in steps.iter().enumerate() {
            if s.state.satisfies_dependents() {
                dag.satisfy(&template.graph, i as u32, &mut ignored);
                completed += 1;
            }
        }
        let last_error = view.steps.iter().rev().find_map(|s| {
            let t = s
                .transitions
                .iter()
                .rev()
                .find(|t| t.to_state == State::Error)?;
            Some((t.meta.error_class.clone()?, t.meta.error_message.clone()?))
        });
        let mut task = LiveTask {
            id,
            template,
            context: view.task.context.clone(),
            state: view.state,
            steps,
            dag,
            handed_out: 0,
            retries_pending: 0,
            completed,
            sort_key: view.transitions.last().map_or(0, |t| t.sort_key),
            route: None,
            max_parallel: None,
            deferred: Vec::new(),
            priority: view.task.priority,
            last_error,
            run_at: super::schedule::stored_run_at(view, now),
        };
        if restart {
            task.fail_interrupted_steps(now, fx);
        }
        Ok(task)
    }

    /// Steps handed out or running when the engine died: error (`engine_restart`), one more
    /// attempt counted.
    fn fail_interrupted_steps(&mut self, now: Timestamp, fx: &mut Effects) {
        for i in 0..self.steps.len() as u32 {
            let step = &self.steps[i as usize];
            let interrupted = step.state == State::InProgress
                || (step.state == State::Pending && step.in_process);
            if !interrupted {
                continue;
            }
            let attempts = step.attempts + 1;
            let step = &mut self.steps[i as usize];
            step.attempts = attempts;
            step.in_process = false;
            let meta = TransitionMeta {
                attempt: Some(attempts),
                error_class: Some("TaskerCore::EngineRestart".into()),
                error_message: Some("the engine stopped while the step was handed out".into()),
                ..TransitionMeta::engine("engine_restart")
            };
            let patch = StepPatch {
                in_process: Some(false),
                attempts: Some(attempts),
                last_attempted_at: Some(now),
                ..StepPatch::default()
            };
            self.move_step(i, State::Error, meta, now, patch, fx);
        }
    }

    /// Puts a running task's steps back in motion from their stored state: pending steps
    /// whose parents are satisfied are handed out; steps in error that may still be retried
    /// are retried after the engine's backoff for their attempt count. Finishes the task
    /// when nothing can run any more.
    pub fn resume(&mut self, now: Timestamp, backoff_scale: f64, fx: &mut Effects) {
        if self.state != State::InProgress {
            return;
        }
        for i in 0..self.steps.len() as u32 {
            let step = &self.steps[i as usize];
            if step.in_process || step.retry_scheduled {
                continue;
            }
            let deps = self.dag.dependencies_met(i);
            match step.state {
                State::Pending if deps && step.retryable && step.attempts < step.retry_limit => {
                    self.dispatch_or_hold(i, now, fx)
                }
                State::Error if step.retryable && step.attempts < step.retry_limit => {
                    let delay =
                        retry_delay_seconds(step.attempts, None, fastrand::f64(), backoff_scale);
                    self.steps[i as usize].retry_scheduled = true;
                    self.retries_pending += 1;
                    fx.retries.push((i, Duration::from_secs_f64(delay)));
                }
                _ => {}
            }
        }
        self.discovered(fx);
        self.check_finished(now, fx);
    }
}
