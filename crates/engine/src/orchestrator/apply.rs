//! Carrying out a rule's [`Effects`] for the orchestrator, in a fixed order: steps to their
//! queue or route (recorded in flight first), retries onto the actor's timer, changes to
//! the state actor, events once those changes commit, a finished task dropped (its outcome
//! kept once its finish commits).
//!
//! It must not decide anything about a task: the rules in `live_task` did.

use super::{Delivery, Orchestrator};
use crate::gate::linger_limit;
use crate::inflight::AttemptId;
use crate::live_task::{Effects, LiveTask};
use crate::outcomes::TaskOutcome;
use crate::work::{ReadyStep, Routed};
use actix::prelude::*;
use crossbeam_channel::Sender;
use std::sync::atomic::Ordering;
use tasker_event_bus::Publish;
use tasker_model::{Execution, State, StepId, TaskId, Timestamp};
use tasker_state::{AfterCommit, ApplyAcked, ApplyAlone, ApplyChanges};

impl Orchestrator {
    /// Stops waiting for `steps` of task `task_id` (still in its `tasks`), handed out and
    /// perhaps running. A handler may still run one (a cancelled task's runs to its end; a
    /// task another process took over runs there again): its caps stay counted until it
    /// returns (`gate/linger.rs`), and are freed then, never left counted.
    pub(super) fn release_steps(
        &mut self,
        task_id: TaskId,
        steps: Vec<StepId>,
        ctx: &mut Context<Self>,
    ) {
        for step_id in steps {
            let capped = (self.links.inflight.get(step_id)).filter(|at| self.gate.holds_caps(at));
            match self.links.inflight.release(step_id, capped) {
                Some(at) if capped.is_some() => {
                    let timeout = (self.tasks.get(&task_id))
                        .and_then(|t| t.step_timeout(at.index, self.links.step_timeout));
                    self.linger_caps(step_id, at, linger_limit(timeout), ctx);
                }
                Some(at) => self.gate.forget(at),
                None => {}
            }
        }
    }

    /// Carries out `fx` for task `task_id`.
    pub(super) fn apply(&mut self, task_id: TaskId, fx: Effects, ctx: &mut Context<Self>) {
        self.apply_with(task_id, fx, Delivery::Batched, ctx);
    }

    /// Carries out `fx`, its changes going to the store as `delivery` says.
    pub(super) fn apply_with(
        &mut self,
        task_id: TaskId,
        mut fx: Effects,
        delivery: Delivery,
        ctx: &mut Context<Self>,
    ) {
        let released = std::mem::take(&mut fx.released);
        self.release_steps(task_id, released, ctx);
        if let Some(task) = self.tasks.get_mut(&task_id) {
            let mut dispatch = std::mem::take(&mut fx.dispatch);
            task.admit(&mut dispatch);
            for i in dispatch {
                self.last_attempt_id += 1;
                let mut step = task.hand_out(i, AttemptId(self.last_attempt_id), &mut fx);
                if step.timeout.is_none() {
                    step.timeout = self.links.step_timeout;
                }
                self.links.inflight.insert(step.step_id, step.inflight());
                self.links
                    .metrics
                    .steps_dispatched
                    .fetch_add(1, Ordering::Relaxed);
                let queue = &self.links.work[step.execution().index()].0;
                let routed = task.route.is_some() && step.execution() == Execution::Thread;
                if self.gate.pass(&step, routed, queue.len()) {
                    send_step(task, queue, step);
                } else {
                    let now = self.gate.now_ms();
                    self.gate.hold(step, task.priority, routed, now);
                }
            }
            for (i, delay) in fx.retries.drain(..) {
                self.links
                    .metrics
                    .steps_retried
                    .fetch_add(1, Ordering::Relaxed);
                ctx.run_later(delay, move |act, ctx| act.retry_due(task_id, i, ctx));
            }
            // Steps held until their task's run_at: the same timer, not counted as retries.
            for (i, delay) in fx.delayed.drain(..) {
                ctx.run_later(delay, move |act, ctx| act.retry_due(task_id, i, ctx));
            }
        }
        if !self.gate.is_idle() || self.gate.trade_due() {
            self.refill();
        }
        // Counted before the changes go out: a waiter woken by the store's commit must see
        // the counters already moved.
        if let Some(final_state) = fx.finished {
            let counter = if final_state == State::Complete {
                &self.links.metrics.tasks_completed
            } else {
                &self.links.metrics.tasks_failed
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let changes = std::mem::take(&mut fx.changes);
        match delivery {
            Delivery::Alone(reply) => self.links.state.do_send(ApplyAlone { changes, reply }),
            Delivery::Acked(reply) => self.links.state.do_send(ApplyAcked { changes, reply }),
            Delivery::Batched if !changes.is_empty() => {
                self.links.state.do_send(ApplyChanges(changes))
            }
            Delivery::Batched => {}
        }
        if !fx.events.is_empty() {
            let events = std::mem::take(&mut fx.events);
            let bus = self.links.events.clone();
            self.links
                .state
                .do_send(AfterCommit(Box::new(move || bus.do_send(Publish(events)))));
        }
        if let Some(final_state) = fx.finished {
            if let Some(task) = self.tasks.remove(&task_id) {
                let _ = self.links.task_ended.try_send(());
                if let Some((route, _)) = &task.route {
                    let _ = route.send(Routed::Finished(task_id, final_state));
                }
                // Known only once the finish is committed (dropped if that commit fails),
                // so a result read from here agrees with the store.
                let outcome = TaskOutcome::of_finished(&task, final_state);
                let ended = LiveEnded(self.links.outcomes.clone(), task_id);
                self.links.state.do_send(AfterCommit(Box::new(move || {
                    ended.0.finished(ended.1, outcome)
                })));
            }
        }
    }

    fn retry_due(&mut self, task_id: TaskId, i: u32, ctx: &mut Context<Self>) {
        let mut fx = self.effects();
        let dispatch = !self.stopping;
        if let Some(task) = self.tasks.get_mut(&task_id) {
            task.retry_due(i, Timestamp::now(), dispatch, &mut fx);
        }
        self.apply(task_id, fx, ctx);
    }
}

/// Sends a step to its task's route, or to the shared channel. A route whose receiver is
/// gone (its coordinator went away) is dropped and the step goes to the shared channel, so
/// it is not lost.
pub(super) fn send_step(task: &mut LiveTask, shared: &Sender<ReadyStep>, step: ReadyStep) {
    // A route carries thread steps only: Ractor steps go to the Ractor pool either way.
    let routed = step.execution() == tasker_model::Execution::Thread;
    if let (true, Some((route, _))) = (routed, &task.route) {
        match route.send(Routed::Step(step)) {
            Ok(()) => return,
            Err(e) => {
                task.route = None;
                if let Routed::Step(step) = e.into_inner() {
                    let _ = shared.send(step);
                }
                return;
            }
        }
    }
    let _ = shared.send(step);
}

/// Ends a task's `live` mark in [`crate::outcomes::Outcomes`] when dropped, so a finish
/// whose commit failed (its `AfterCommit` dropped unrun) does not leave the mark behind.
struct LiveEnded(std::sync::Arc<crate::outcomes::Outcomes>, TaskId);

impl Drop for LiveEnded {
    fn drop(&mut self) {
        self.0.live_ended(self.1);
    }
}
