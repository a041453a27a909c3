//! Workers starting steps, and step timeouts, the orchestrator's part: started steps move
//! to in_progress, and each started attempt that has a timeout gets a deadline; a report
//! removes it; when one passes first, the attempt is taken out of the in-flight registry and
//! failed with `TaskerCore::TimeoutError` (the rule is `LiveTask::time_out`).
//!
//! Deadlines wait in one ordered queue under a single timer on the actor's clock, armed for
//! the earliest: arming or removing one is a map and a set operation, not a timer future
//! per step (actix polls every future a context holds on each of its wake-ups).
//!
//! The engine enforces the deadline itself, whatever the worker does: a handler stuck in C
//! code, a dead thread or a Ractor that never returns cannot keep a step in progress. It must
//! not decide the failure's consequences (retry, task failure): those are `LiveTask`'s.
//! When no step has a timeout, nothing here runs beyond an `is_empty` check per report.

use super::{Orchestrator, StepsStarted};
use crate::inflight::InflightStep;
use crate::live_task::Effects;
use actix::prelude::*;
use rustc_hash::FxHashMap;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tasker_model::{Execution, TaskId, Timestamp};

/// The armed deadlines: by (task, step index), the attempt, its deadline and its timeout;
/// the same ordered by deadline; and the one timer, armed for the earliest.
#[derive(Default)]
pub(super) struct Deadlines {
    armed: FxHashMap<(TaskId, u32), (u32, Instant, Duration)>,
    queue: BTreeSet<(Instant, TaskId, u32)>,
    timer: Option<(Instant, SpawnHandle)>,
}

impl Deadlines {
    /// Removes the deadline of (task, index) when it is `attempt`'s; returns it.
    fn remove(&mut self, task: TaskId, index: u32, attempt: u32) -> Option<(Instant, Duration)> {
        match self.armed.get(&(task, index)) {
            Some(&(a, at, timeout)) if a == attempt => {
                self.armed.remove(&(task, index));
                self.queue.remove(&(at, task, index));
                Some((at, timeout))
            }
            _ => None,
        }
    }
}

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
        // One clock read per batch: its steps were taken together.
        let now = Instant::now();
        for (s, t) in timed {
            self.arm_deadline(s, t, now, ctx);
        }
    }

    /// Gives a started attempt its deadline, `timeout` from `now`.
    pub(super) fn arm_deadline(
        &mut self,
        step: InflightStep,
        timeout: Duration,
        now: Instant,
        ctx: &mut Context<Self>,
    ) {
        let at = now + timeout;
        let d = &mut self.deadlines;
        let key = (step.task_id, step.index);
        if let Some((_, old, _)) = d.armed.insert(key, (step.attempt, at, timeout)) {
            d.queue.remove(&(old, step.task_id, step.index));
        }
        d.queue.insert((at, step.task_id, step.index));
        self.arm_timer(ctx);
    }

    /// Removes the deadline of a reported attempt, if it has one. The timer stays: when it
    /// fires with nothing due, it is armed again for the earliest deadline left.
    pub(super) fn disarm_deadline(&mut self, step: &InflightStep) {
        if self.deadlines.armed.is_empty() {
            return;
        }
        self.deadlines
            .remove(step.task_id, step.index, step.attempt);
    }

    /// Arms the timer for the earliest deadline unless it is armed for that time or sooner.
    fn arm_timer(&mut self, ctx: &mut Context<Self>) {
        let Some(&(first, _, _)) = self.deadlines.queue.first() else {
            return;
        };
        if let Some((at, handle)) = self.deadlines.timer {
            if at <= first {
                return;
            }
            ctx.cancel_future(handle);
        }
        let wait = first.saturating_duration_since(Instant::now());
        let handle = ctx.run_later(wait, |act, ctx| {
            act.deadlines.timer = None;
            act.deadlines_passed(ctx);
        });
        self.deadlines.timer = Some((first, handle));
    }

    /// Fails every attempt whose deadline has passed, then arms the timer for the next.
    fn deadlines_passed(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        while let Some(&(at, task_id, index)) = self.deadlines.queue.first() {
            if at > now {
                break;
            }
            let (attempt, _, timeout) = self.deadlines.armed[&(task_id, index)];
            self.deadlines.remove(task_id, index, attempt);
            let step = InflightStep {
                task_id,
                index,
                attempt,
            };
            self.deadline_passed(step, timeout, ctx);
        }
        self.arm_timer(ctx);
    }

    /// The deadline of `step`'s attempt passed: unless its worker reported first (or the step
    /// moved on), the attempt fails with a timeout and the engine stops waiting for it.
    fn deadline_passed(&mut self, step: InflightStep, timeout: Duration, ctx: &mut Context<Self>) {
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
        // The attempt is over for the engine: its caps are free for the retry (the pool's
        // watchdog interrupts the thread that ran it).
        self.gate.finished(step);
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
