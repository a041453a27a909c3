//! Workers starting steps, and step timeouts, the orchestrator's part: started steps move
//! to in_progress, and a timer on the actor's own clock is armed for each started attempt
//! that has a timeout, cancelled when its report arrives, and, when it fires
//! first, the attempt taken out of the in-flight registry and failed with
//! `TaskerCore::TimeoutError` (the rule is `LiveTask::time_out`).
//!
//! The engine enforces the deadline itself, whatever the worker does: a handler stuck in C
//! code, a dead thread or a Ractor that never returns cannot keep a step in progress. It must
//! not decide the failure's consequences (retry, task failure): those are `LiveTask`'s.
//! When no step has a timeout, nothing here runs beyond an `is_empty` check per report.

use super::{Orchestrator, StepsStarted};
use crate::inflight::InflightStep;
use crate::live_task::Effects;
use actix::prelude::*;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tasker_model::{Execution, TaskId, Timestamp};

/// The armed timers, by (task, step index): the attempt each was armed for and its handle.
#[derive(Default)]
pub(super) struct Deadlines(HashMap<(TaskId, u32), (u32, SpawnHandle)>);

impl Orchestrator {
    /// Workers began these steps: each moves to in_progress (grouped by task, so each
    /// task's effects are applied once), and each with a timeout gets its timer.
    pub(super) fn steps_started(&mut self, msg: StepsStarted, ctx: &mut Context<Self>) {
        let mut current: Option<(TaskId, Effects)> = None;
        let mut timed = Vec::new();
        for s in msg.steps {
            if current.as_ref().is_some_and(|(t, _)| *t != s.task_id) {
                let (t, fx) = current.take().expect("checked");
                self.apply(t, fx, ctx);
            }
            if current.is_none() {
                current = Some((s.task_id, self.effects()));
            }
            let (_, fx) = current.as_mut().expect("set");
            if let Some(task) = self.tasks.get_mut(&s.task_id) {
                task.started(s.index, msg.at, fx);
                if let Some(t) = task.step_timeout(s.index, self.links.step_timeout) {
                    if task.is_running_attempt(s.index, s.attempt) {
                        timed.push((s, t));
                    }
                }
            }
        }
        if let Some((t, fx)) = current {
            self.apply(t, fx, ctx);
        }
        for (s, t) in timed {
            self.arm_deadline(s, t, ctx);
        }
    }

    /// Arms the timer of a started attempt, `timeout` from now.
    pub(super) fn arm_deadline(
        &mut self,
        step: InflightStep,
        timeout: Duration,
        ctx: &mut Context<Self>,
    ) {
        let handle = ctx.run_later(timeout, move |act, ctx| {
            act.deadline_passed(step, timeout, ctx)
        });
        let key = (step.task_id, step.index);
        if let Some((_, old)) = self.deadlines.0.insert(key, (step.attempt, handle)) {
            ctx.cancel_future(old);
        }
    }

    /// Cancels the timer of a reported attempt, if it has one.
    pub(super) fn disarm_deadline(&mut self, step: &InflightStep, ctx: &mut Context<Self>) {
        if self.deadlines.0.is_empty() {
            return;
        }
        if let Some(handle) = self.take_deadline(step) {
            ctx.cancel_future(handle);
        }
    }

    fn take_deadline(&mut self, step: &InflightStep) -> Option<SpawnHandle> {
        let key = (step.task_id, step.index);
        match self.deadlines.0.get(&key) {
            Some((attempt, _)) if *attempt == step.attempt => {
                self.deadlines.0.remove(&key).map(|(_, h)| h)
            }
            _ => None,
        }
    }

    /// The timer of `step`'s attempt fired: unless its worker reported first (or the step
    /// moved on), the attempt fails with a timeout and the engine stops waiting for it.
    fn deadline_passed(&mut self, step: InflightStep, timeout: Duration, ctx: &mut Context<Self>) {
        self.take_deadline(&step);
        let Some(task) = self.tasks.get_mut(&step.task_id) else {
            return;
        };
        if !task.is_running_attempt(step.index, step.attempt) {
            return;
        }
        let step_id = task.steps[step.index as usize].id;
        if self.links.inflight.expire(step_id, step.attempt).is_none() {
            return; // its report is on its way
        }
        let mut fx = self.effects();
        let now = Timestamp::now();
        let task = self.tasks.get_mut(&step.task_id).expect("checked above");
        let scale = self.links.backoff_scale;
        let in_ractor = task.template.executions[step.index as usize] == Execution::Ractor;
        if task.time_out(step.index, step.attempt, timeout, now, scale, &mut fx) {
            let m = &self.links.metrics;
            m.steps_timed_out.fetch_add(1, Ordering::Relaxed);
            m.steps_failed.fetch_add(1, Ordering::Relaxed);
            if in_ractor {
                m.ractor_steps_timed_out.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.apply(step.task_id, fx, ctx);
    }
}
