//! Moving steps out to workers and back: starting a task, choosing what to hand out (within
//! a coordinator's `max_parallel`), a worker starting a step, a retry coming due, and
//! handing steps back when the engine stops.
//!
//! These are plain rules over [`LiveTask`]: they record [`Effects`] and must not send
//! anything themselves.

use super::{Effects, LiveTask};
use crate::inflight::AttemptId;
use crate::work::ReadyStep;
use serde_json::{json, Value as Json};
use std::sync::Arc;
use tasker_event_bus::LifecycleEvent;
use tasker_model::{State, TaskerError, TaskerResult, Timestamp};
use tasker_state::{StepPatch, TransitionMeta};

impl LiveTask {
    /// Starts a pending task: pending → in_progress, and its root steps become ready.
    pub fn start(&mut self, now: Timestamp, fx: &mut Effects) -> TaskerResult<()> {
        if self.state != State::Pending {
            return Err(TaskerError::task_transition(
                format!("task {}", self.id),
                self.state,
                State::InProgress,
            ));
        }
        self.move_task(State::InProgress, TransitionMeta::engine("start"), now, fx);
        self.emit(fx, LifecycleEvent::TaskStartRequested, None, |_| {});
        let roots: Vec<u32> = self.template.graph.roots().collect();
        for i in roots {
            self.dispatch_or_hold(i, now, fx);
        }
        self.discovered(fx);
        Ok(())
    }

    pub(crate) fn discovered(&self, fx: &mut Effects) {
        if fx
            .events_wanted
            .wants(LifecycleEvent::WorkflowViableStepsDiscovered)
            && !fx.dispatch.is_empty()
        {
            let ids: Vec<i64> = fx
                .dispatch
                .iter()
                .map(|&i| self.steps[i as usize].id.0)
                .collect();
            let names: Vec<&str> = fx
                .dispatch
                .iter()
                .map(|&i| &**self.template.graph.name(i))
                .collect();
            let payload = Arc::new(json!({"step_ids": ids, "step_names": names}));
            self.emit(
                fx,
                LifecycleEvent::WorkflowViableStepsDiscovered,
                None,
                |e| e.payload = Some(payload),
            );
        }
    }

    /// Limits `dispatch` to what `max_parallel` leaves room for: steps deferred earlier go
    /// first, steps no longer pending (cancelled, finished, already out) are dropped, and
    /// the rest wait in `deferred` for a step to finish.
    pub(crate) fn admit(&mut self, dispatch: &mut Vec<u32>) {
        let Some(cap) = self.max_parallel else {
            return;
        };
        let mut queue = std::mem::take(&mut self.deferred);
        queue.append(dispatch);
        let mut seen = vec![false; self.steps.len()];
        queue.retain(|&i| {
            let step = &self.steps[i as usize];
            let keep = !seen[i as usize] && step.state == State::Pending && !step.in_process;
            seen[i as usize] = true;
            keep
        });
        let room = cap.saturating_sub(self.handed_out) as usize;
        if queue.len() > room {
            self.deferred = queue.split_off(room);
        }
        *dispatch = queue;
    }

    /// Marks step `i` handed out as hand-out `attempt_id` and builds what the worker receives.
    pub fn hand_out(&mut self, i: u32, attempt_id: AttemptId, fx: &mut Effects) -> ReadyStep {
        let step = &mut self.steps[i as usize];
        debug_assert!(step.state == State::Pending && !step.in_process);
        // Queued in this process only: nothing is written until a worker takes it (see
        // `started`), so a crash leaves a queued step plain pending, to run again without an
        // attempt counted against it.
        step.in_process = true;
        self.handed_out += 1;
        let (step_id, attempts, retry_limit) = (step.id, step.attempts, step.retry_limit);
        self.emit(fx, LifecycleEvent::StepExecutionRequested, Some(i), |_| {});
        let parent_results = self
            .template
            .graph
            .parents(i)
            .iter()
            .map(|&p| {
                let results = self.steps[p as usize]
                    .results
                    .clone()
                    .unwrap_or_else(|| Arc::new(Json::Null));
                (self.template.graph.name(p).clone(), results)
            })
            .collect();
        ReadyStep {
            task_id: self.id,
            step_id,
            index: i,
            attempt: attempts + 1,
            attempt_id,
            retry_limit,
            template: self.template.clone(),
            task_context: self.context.clone(),
            parent_results,
            // The template's; the orchestrator fills in the engine's default.
            timeout: self.template.timeouts[i as usize],
        }
    }

    /// A worker began step `i`: pending → in_progress. A stale notice is ignored.
    pub fn started(&mut self, i: u32, at: Timestamp, fx: &mut Effects) {
        let step = &self.steps[i as usize];
        if step.state != State::Pending || !step.in_process {
            return;
        }
        self.steps[i as usize].started_at = Some(at);
        self.move_step_flagged(i, State::InProgress, "handler_started", true, at, fx);
        self.emit(fx, LifecycleEvent::StepBeforeHandle, Some(i), |_| {});
    }

    /// A scheduled retry of step `i` is due: error → pending, and hand it out again. A
    /// pending step held until the task's `run_at` is handed out (`schedule.rs`).
    pub fn retry_due(&mut self, i: u32, at: Timestamp, dispatch: bool, fx: &mut Effects) {
        let step = &self.steps[i as usize];
        if step.state == State::Pending {
            self.run_at_due(i, dispatch, fx);
            return;
        }
        if self.state != State::InProgress || !step.retry_scheduled || step.state != State::Error {
            return;
        }
        self.steps[i as usize].retry_scheduled = false;
        self.retries_pending -= 1;
        let attempt = self.steps[i as usize].attempts + 1;
        let meta = TransitionMeta {
            attempt: Some(attempt),
            ..TransitionMeta::engine("retry")
        };
        self.move_step(i, State::Pending, meta, at, StepPatch::default(), fx);
        if dispatch {
            fx.dispatch.push(i);
        }
    }

    /// Hands back step `i`, which was queued and never started: it stays pending with
    /// `in_process` cleared, so it runs when the task is next driven.
    pub fn hand_back_queued(&mut self, i: u32) {
        let step = &mut self.steps[i as usize];
        if !step.in_process || step.state != State::Pending {
            return;
        }
        // Its hand-out was never written (see `hand_out`): only memory changes.
        step.in_process = false;
        self.handed_out -= 1;
    }

    /// Hands back step `i`, which a worker started and did not finish before the engine
    /// stopped: in_progress → error with reason `engine_stopped`, so it runs again (at least
    /// once) and its history shows why. Attempts are not counted: the handler did not fail.
    pub fn hand_back_started(&mut self, i: u32, at: Timestamp, fx: &mut Effects) {
        if self.steps[i as usize].state != State::InProgress {
            return;
        }
        self.steps[i as usize].in_process = false;
        self.handed_out -= 1;
        self.move_step_flagged(i, State::Error, "engine_stopped", false, at, fx);
    }
}
