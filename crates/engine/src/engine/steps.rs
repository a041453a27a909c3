//! The worker's side of a step's life: take ready steps (from a pool's queue or a task's
//! route, now or waiting), report each one (complete or fail), and publish custom events
//! from a running step.
//!
//! Taking and reporting sit on the hot path: no lock but the shared `stopping` read, no
//! allocation beyond the batch taken. It must not decide what a report does to a task:
//! that is the orchestrator's.

use super::wait::{await_reply, Interrupt, WaitEnd};
use super::Engine;
use crate::inflight::AttemptId;
use crate::inflight::{InflightStep, Reported};
use crate::orchestrator::{
    AttemptReturned, PublishCustom, StepFinished, StepOutcome, StepsStarted,
};
use crate::work::{ReadyStep, Routed, StepFailure};
use crossbeam_channel::{bounded, select, Receiver};
use serde_json::Value as Json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tasker_model::{Execution, StepId, TaskerError, TaskerResult, Timestamp};

impl Engine {
    /// Takes up to `max` ready thread-pool steps without waiting (a fair share when other
    /// takers wait).
    pub fn take_steps(&self, max: usize) -> TaskerResult<Vec<ReadyStep>> {
        self.take_steps_for(Execution::Thread, max)
    }

    /// Takes up to `max` ready steps of one executor's queue without waiting.
    pub fn take_steps_for(&self, executor: Execution, max: usize) -> TaskerResult<Vec<ReadyStep>> {
        let (queue, idle) = self.queue(executor);
        let take = fair_share(queue.len(), max, idle.load(Ordering::Relaxed));
        let steps: Vec<ReadyStep> = queue.try_iter().take(take).collect();
        self.mark_started(&steps);
        Ok(steps)
    }

    /// Waits up to `timeout` for at least one ready thread-pool step, then takes up to `max`.
    pub fn take_steps_waiting(
        &self,
        max: usize,
        timeout: Duration,
        interrupt: &Interrupt,
    ) -> Result<Vec<ReadyStep>, WaitEnd> {
        self.take_steps_waiting_for(Execution::Thread, max, timeout, interrupt)
    }

    /// Waits up to `timeout` for at least one ready step of one executor, then takes up to
    /// `max`.
    pub fn take_steps_waiting_for(
        &self,
        executor: Execution,
        max: usize,
        timeout: Duration,
        interrupt: &Interrupt,
    ) -> Result<Vec<ReadyStep>, WaitEnd> {
        let (queue, idle) = self.queue(executor);
        let steps = take_batch(queue, &self.stop_receiver, max, timeout, interrupt, idle)?;
        self.mark_started(&steps);
        Ok(steps)
    }

    fn queue(&self, executor: Execution) -> (&Receiver<ReadyStep>, &AtomicUsize) {
        (
            &self.work[executor.index()],
            &self.idle_takers[executor.index()],
        )
    }

    /// Takes up to `max` items from a task route (see [`Engine::start_task`]), waiting up to
    /// `timeout` for the first; a `Finished` item ends the route.
    pub fn take_routed_waiting(
        &self,
        route: &Receiver<Routed>,
        max: usize,
        timeout: Duration,
        interrupt: &Interrupt,
    ) -> Result<Vec<Routed>, WaitEnd> {
        let idle = AtomicUsize::new(0);
        let items = match take_batch(route, &self.stop_receiver, max, timeout, interrupt, &idle) {
            Ok(items) => items,
            // One last look, and a consuming one: an item sent as the wait ended must be
            // returned here, since a later probe for "closed" would take it and drop it.
            Err(WaitEnd::TimedOut) => match route.try_recv() {
                Ok(item) => vec![item],
                Err(crossbeam_channel::TryRecvError::Disconnected) => return Err(WaitEnd::Closed),
                Err(crossbeam_channel::TryRecvError::Empty) => return Err(WaitEnd::TimedOut),
            },
            Err(end) => return Err(end),
        };
        let started: Vec<InflightStep> = items
            .iter()
            .filter_map(|r| match r {
                Routed::Step(s) => Some(s.inflight()),
                Routed::Finished(..) => None,
            })
            .collect();
        if !started.is_empty() {
            self.orchestrator.do_send(StepsStarted {
                steps: started,
                at: Timestamp::now(),
            });
        }
        Ok(items)
    }

    fn mark_started(&self, steps: &[ReadyStep]) {
        if steps.is_empty() {
            return;
        }
        self.orchestrator.do_send(StepsStarted {
            steps: steps.iter().map(ReadyStep::inflight).collect(),
            at: Timestamp::now(),
        });
    }

    fn report(&self, step_id: StepId, outcome: StepOutcome) -> TaskerResult<()> {
        let stopping = self.stopping.read();
        if *stopping {
            return Err(stopped(step_id));
        }
        let Some(step) = self.inflight.take(step_id) else {
            self.lingered(step_id, None);
            return Err(not_out(step_id));
        };
        self.send_report(step, outcome);
        Ok(())
    }

    /// A report the engine refused or ignored: when it came from an attempt the engine had
    /// stopped waiting for while it counted against caps, its handler has now returned and
    /// its caps are freed (`gate/linger.rs`).
    fn lingered(&self, step_id: StepId, attempt: Option<AttemptId>) {
        if let Some(at) = self.inflight.returned(step_id, attempt) {
            self.orchestrator.do_send(AttemptReturned(at));
        }
    }

    /// Reports hand-out `attempt` of a step. `Ok(false)`: the attempt had timed out (or a
    /// newer one runs) and the report was ignored, as the engine no longer waits for it.
    fn report_attempt(
        &self,
        step_id: StepId,
        attempt: AttemptId,
        outcome: StepOutcome,
    ) -> TaskerResult<bool> {
        let stopping = self.stopping.read();
        if *stopping {
            return Err(stopped(step_id));
        }
        match self.inflight.take_attempt(step_id, attempt) {
            Reported::Taken(step) => {
                self.send_report(step, outcome);
                Ok(true)
            }
            Reported::Late => {
                self.metrics
                    .late_reports_ignored
                    .fetch_add(1, Ordering::Relaxed);
                self.lingered(step_id, Some(attempt));
                Ok(false)
            }
            Reported::Unknown => {
                self.lingered(step_id, Some(attempt));
                Err(not_out(step_id))
            }
        }
    }

    fn send_report(&self, step: InflightStep, outcome: StepOutcome) {
        self.orchestrator.do_send(StepFinished {
            step,
            outcome,
            at: Timestamp::now(),
        });
    }

    /// Reports a step's success.
    pub fn complete_step(&self, step_id: StepId, results: Json) -> TaskerResult<()> {
        self.report(step_id, StepOutcome::Completed(Arc::new(results)))
    }

    /// Reports a step's failure.
    pub fn fail_step(&self, step_id: StepId, failure: StepFailure) -> TaskerResult<()> {
        self.report(step_id, StepOutcome::Failed(failure))
    }

    /// Reports the success of the attempt handed out as `attempt` ([`ReadyStep::attempt_id`],
    /// not the attempt number, which repeats after a manual reset) of a step; returns false
    /// when that attempt timed out meanwhile and the report was ignored (a late result never
    /// overwrites a newer attempt's).
    pub fn complete_attempt(
        &self,
        step_id: StepId,
        attempt: AttemptId,
        results: Json,
    ) -> TaskerResult<bool> {
        self.report_attempt(step_id, attempt, StepOutcome::Completed(Arc::new(results)))
    }

    /// Reports the failure of attempt `attempt` of a step; false as [`Engine::complete_attempt`].
    pub fn fail_attempt(
        &self,
        step_id: StepId,
        attempt: AttemptId,
        failure: StepFailure,
    ) -> TaskerResult<bool> {
        self.report_attempt(step_id, attempt, StepOutcome::Failed(failure))
    }

    /// Publishes a custom event from the handler running `step_id`; refused when the template
    /// lists `custom_events` and the name is not among them.
    pub fn publish_custom_event(
        &self,
        step_id: StepId,
        name: &str,
        payload: Json,
        timeout: Duration,
    ) -> TaskerResult<()> {
        let step = self
            .inflight
            .get(step_id)
            .ok_or_else(|| TaskerError::InvalidState {
                subject: format!("step {step_id}"),
                message: "is not running, so it cannot publish events".into(),
            })?;
        let (tx, rx) = bounded(1);
        self.orchestrator.do_send(PublishCustom {
            step,
            name: name.to_string(),
            payload: Arc::new(payload),
            reply: tx,
        });
        await_reply(&rx, timeout, &format!("publish event {name}"))?
    }
}

fn stopped(step_id: StepId) -> TaskerError {
    TaskerError::Orchestration(format!(
        "step {step_id}: the engine is stopped; the step was taken back and will run again"
    ))
}

fn not_out(step_id: StepId) -> TaskerError {
    TaskerError::InvalidState {
        subject: format!("step {step_id}"),
        message: "is not handed out to a worker (unknown id, already reported, or taken back)"
            .into(),
    }
}

/// How many of `queued` steps one taker gets, at most `max`: with other takers idle, only
/// its share, so a burst of slow steps spreads over every worker instead of queueing behind
/// one; with none idle, as many as allowed, so a busy pool crosses the boundary rarely.
fn fair_share(queued: usize, max: usize, idle_others: usize) -> usize {
    (queued / (idle_others + 1)).clamp(1, max.max(1))
}

/// Waits for the first item (or a stop or an interrupt), then takes its fair share of what
/// else is queued, up to `max` in all.
fn take_batch<T>(
    rx: &Receiver<T>,
    stop: &Receiver<()>,
    max: usize,
    timeout: Duration,
    interrupt: &Interrupt,
    idle_takers: &AtomicUsize,
) -> Result<Vec<T>, WaitEnd> {
    let max = max.max(1);
    let take = fair_share(rx.len(), max, idle_takers.load(Ordering::Relaxed));
    let mut out: Vec<T> = rx.try_iter().take(take).collect();
    if !out.is_empty() {
        return Ok(out);
    }
    if interrupt.is_set() {
        return Err(WaitEnd::Interrupted);
    }
    idle_takers.fetch_add(1, Ordering::Relaxed);
    let _idle = scopeguard(|| {
        idle_takers.fetch_sub(1, Ordering::Relaxed);
    });
    select! {
        recv(rx) -> item => match item {
            Ok(item) => out.push(item),
            // Disconnected: the engine is gone; nothing will arrive.
            Err(_) => return Err(WaitEnd::TimedOut),
        },
        recv(interrupt.rx) -> _ => return Err(WaitEnd::Interrupted),
        recv(stop) -> _ => return Err(WaitEnd::TimedOut),
        default(timeout) => return Err(WaitEnd::TimedOut),
    }
    drop(_idle);
    let extra = fair_share(rx.len(), max, idle_takers.load(Ordering::Relaxed)).min(rx.len());
    out.extend(rx.try_iter().take(extra.min(max - 1)));
    Ok(out)
}

/// Runs `f` when dropped (so the idle count is restored on every way out of a wait).
fn scopeguard<F: FnMut()>(f: F) -> impl Drop {
    struct Guard<F: FnMut()>(F);
    impl<F: FnMut()> Drop for Guard<F> {
        fn drop(&mut self) {
            (self.0)()
        }
    }
    Guard(f)
}
