//! The orchestrator's side of the dispatch gate ([`crate::gate`]): refilling the workers'
//! queues from what the gate holds, pausing or resuming a namespace or template, and
//! letting out the steps of an identified task once it is known to be the only one.
//!
//! It must not decide which step goes first or whether a cap is full: the gate does.

use super::apply::send_step;
use super::Orchestrator;
use crate::gate::{CapAnswer, CapBroker, PauseKey, READ_AGAIN};
use crate::inflight::InflightStep;
use crate::work::ReadyStep;
use actix::prelude::*;
use crossbeam_channel::Sender;
use std::time::Duration;
use tasker_model::{State, StepId, TaskId};

/// A cap that got no slot is asked for again after this long (another process may have
/// handed one back meanwhile): the most a free slot stays unused here, and the cost of a
/// wait, about three statements per interval per cap waited on.
const ASK_AGAIN: Duration = Duration::from_millis(100);

/// The cap broker's answer (`gate::broker`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CapsTraded(pub CapAnswer);

impl Handler<CapsTraded> for Orchestrator {
    type Result = ();

    fn handle(&mut self, msg: CapsTraded, ctx: &mut Self::Context) {
        if self.stopping {
            return;
        }
        match msg.0 {
            CapAnswer::Granted(asked, got) => {
                let empty = self.gate.granted(&asked, got);
                if !empty.is_empty() {
                    ctx.run_later(ASK_AGAIN, move |act, _| {
                        act.gate.ask_again(&empty);
                        act.refill();
                    });
                }
            }
            CapAnswer::Held(read) => {
                // A failed read, or one showing no lease left, is read again only after
                // `READ_AGAIN` (`gate/fence.rs`): this refill comes then.
                let failed = read.as_ref().is_none_or(|(_, _, left)| left.is_zero());
                let unread = read.is_none();
                if self.gate.verified(read) || (unread && self.gate.lapsed_unseen()) {
                    // Slots were lost while this process stalled, or may be (the last read
                    // lapsed and this one failed): capped steps queued on them and not yet
                    // taken by a worker go back to wait for slots.
                    self.regate_queued();
                }
                if failed {
                    ctx.run_later(READ_AGAIN, |act, _| {
                        act.gate.read_again();
                        act.refill();
                    });
                }
            }
        }
        self.refill();
    }
}

/// The handler of an attempt the engine had stopped waiting for returned (its report came,
/// refused or ignored): the caps it still counted are free (`gate/linger.rs`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct AttemptReturned(pub InflightStep);

impl Handler<AttemptReturned> for Orchestrator {
    type Result = ();

    fn handle(&mut self, msg: AttemptReturned, _ctx: &mut Self::Context) {
        if self.gate.returned(msg.0, None) {
            self.refill();
        }
    }
}

/// Hands out the ready steps of a task submitted `held`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReleaseTask(pub TaskId);

/// Pauses (`Some((key, true))`) or resumes (`Some((key, false))`) a namespace or
/// template, or changes nothing (`None`); or, with `all`, makes the pauses exactly those
/// (the ones a shared store holds for every process). Answers with what is paused afterwards.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetPaused {
    pub change: Option<(PauseKey, bool)>,
    pub all: Option<Vec<PauseKey>>,
    pub reply: Sender<Vec<PauseKey>>,
}

impl Handler<SetPaused> for Orchestrator {
    type Result = ();

    fn handle(&mut self, msg: SetPaused, _ctx: &mut Self::Context) {
        match msg.change {
            Some((key, true)) => {
                let fresh = self.gate.pause(key);
                if fresh {
                    self.regate_queued();
                }
            }
            Some((key, false)) => {
                self.gate.resume(&key);
            }
            None => {}
        }
        if let Some(all) = msg.all {
            let mut fresh = false;
            for key in self.gate.paused() {
                if !all.contains(&key) {
                    self.gate.resume(&key);
                }
            }
            for key in all {
                fresh |= self.gate.pause(key);
            }
            if fresh {
                self.regate_queued();
            }
        }
        self.refill();
        let _ = msg.reply.send(self.gate.paused());
    }
}

/// A pool took over executor queue `pool` (0 threads, 1 Ractors): its queue is kept
/// `depth` steps deep from now on; answers with the depth kept.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SizePool {
    pub pool: usize,
    pub depth: usize,
    pub reply: Sender<usize>,
}

impl Handler<SizePool> for Orchestrator {
    type Result = ();

    fn handle(&mut self, msg: SizePool, _ctx: &mut Self::Context) {
        self.gate.set_depth(msg.pool, msg.depth);
        self.trim_queue(msg.pool);
        self.refill();
        let _ = msg.reply.send(self.gate.depth(msg.pool));
    }
}

impl Handler<ReleaseTask> for Orchestrator {
    type Result = ();

    fn handle(&mut self, msg: ReleaseTask, ctx: &mut Self::Context) {
        if self.stopping {
            // Nothing is handed out any more; the task is stored running, and the next
            // engine's recovery resumes it.
            return;
        }
        let mut fx = self.effects();
        let Some(task) = self.tasks.get_mut(&msg.0) else {
            return;
        };
        task.max_parallel = None;
        let steps = &task.steps;
        fx.dispatch = std::mem::take(&mut task.deferred)
            .into_iter()
            .filter(|&i| steps[i as usize].state == State::Pending && !steps[i as usize].in_process)
            .collect();
        self.apply(msg.0, fx, ctx);
    }
}

impl Orchestrator {
    /// With caps configured on a store other processes share, starts the broker that
    /// trades their slots (`gate::broker`); otherwise this process counts alone.
    pub(super) fn share_caps(&mut self, ctx: &mut Context<Self>) {
        let Some(store) = self.links.cap_store.take() else {
            return;
        };
        if self.links.limits.is_empty() {
            return;
        }
        let me = ctx.address();
        let deliver = Box::new(move |answer| me.do_send(CapsTraded(answer)));
        // Shared even without a broker: counting here alone would let the processes
        // together exceed the caps, so capped steps rather wait (and the log says why).
        self.gate.share_caps();
        self.gate.fence_slots();
        match CapBroker::start(store, deliver) {
            Ok(broker) => self.caps = Some(broker),
            Err(e) => tasker_metrics::log_error!(
                "tasker-core: cannot spawn the concurrency-cap thread ({e}): capped steps wait"
            ),
        }
    }

    /// Sends what the gate lets out now to the workers' queues (or the tasks' routes).
    pub(super) fn refill(&mut self) {
        if self.stopping {
            return;
        }
        let queued = [self.links.work[0].0.len(), self.links.work[1].0.len()];
        for step in self.gate.release(queued) {
            let at = step.inflight();
            match self.tasks.get_mut(&step.task_id) {
                Some(task) => {
                    let queue = &self.links.work[step.execution().index()].0;
                    send_step(task, queue, step);
                }
                // The task left this engine while its step was held: nothing runs it.
                None => {
                    self.gate.finished(at);
                    self.links.inflight.take(step.step_id);
                }
            }
        }
        if let Some(caps) = &self.caps {
            let trade = self.gate.trade();
            if !trade.is_empty() {
                caps.send(trade);
            }
        }
    }

    /// The queue of `pool` was made shallower: steps queued beyond its depth go back into
    /// the gate (the first `depth` stay, in their order), so a step more urgent than them
    /// does not wait behind what was queued in bulk before the pool started.
    fn trim_queue(&mut self, pool: usize) {
        let depth = self.gate.depth(pool);
        let (queue, taken) = &self.links.work[pool];
        if queue.len() <= depth {
            return;
        }
        let queued: Vec<ReadyStep> = taken.try_iter().collect();
        let now = self.gate.now_ms();
        for (i, step) in queued.into_iter().enumerate() {
            if i < depth {
                let _ = self.links.work[pool].0.send(step);
                continue;
            }
            self.regate(step, now);
        }
    }

    /// A pause began: steps already queued for the pools (not yet taken by a worker) go
    /// back into the gate, so those the pause covers wait too. A step a worker took
    /// meanwhile runs: a pause stops new starts, not running work.
    fn regate_queued(&mut self) {
        let now = self.gate.now_ms();
        for pool in 0..self.links.work.len() {
            let queued: Vec<ReadyStep> = self.links.work[pool].1.try_iter().collect();
            for step in queued {
                self.regate(step, now);
            }
        }
    }

    /// The engine stops waiting for attempt `at` of step `step_id`, which counted against
    /// caps, while its handler may still run: its caps stay counted until the handler's
    /// report ([`AttemptReturned`]) or, if none comes, until `limit` has passed (then the
    /// slot is freed all the same, so a handler that never returns cannot hold a cap for
    /// good; the log says so).
    pub(super) fn linger_caps(
        &mut self,
        step_id: StepId,
        at: InflightStep,
        limit: Duration,
        ctx: &mut Context<Self>,
    ) {
        let Some(token) = self.gate.linger(at) else {
            return;
        };
        ctx.run_later(limit, move |act, _| {
            if act.gate.returned(at, Some(token)) {
                act.links.inflight.unlinger(step_id, at);
                tasker_metrics::log_warn!(
                    "tasker-core: concurrency caps: the handler of step {step_id} (attempt {}) did not return within {} s of the engine giving it up; its caps are freed",
                    at.attempt,
                    limit.as_secs_f64()
                );
                act.refill();
            }
        });
    }

    /// A step taken back from a pool's queue waits in the gate again, by its task's
    /// priority; its caps are counted again when it is let out anew. A step the engine
    /// had stopped waiting for (a manual operation moved it) is dropped instead: no worker
    /// took it, so no handler of it runs, and its caps are free.
    fn regate(&mut self, step: ReadyStep, now: i64) {
        let at = step.inflight();
        if !self.gate.holds_caps(&at) && self.gate.returned(at, None) {
            // (Every caller refills afterwards.)
            self.links.inflight.unlinger(step.step_id, at);
            return;
        }
        self.gate.finished(at);
        let priority = self.tasks.get(&step.task_id).map_or(0, |t| t.priority);
        self.gate.hold(step, priority, false, now);
    }
}
