//! Workers starting steps, and step timeouts, the orchestrator's part: started steps move
//! to in_progress, and each started attempt that has a timeout gets a deadline; a report
//! removes it; when one passes first, the attempt is taken out of the in-flight registry and
//! failed with `TaskerCore::TimeoutError` (the rule is `LiveTask::time_out`).
//!
//! Deadlines wait in queues under a single timer on the actor's clock, armed for the
//! earliest: one queue per distinct timeout, in arming order, which is deadline order (the
//! clock is monotonic and every entry of a queue adds the same timeout). Arming is a push at
//! a queue's back; a report removes nothing. An entry is checked against its task when it
//! comes due ([`LiveTask::is_running_attempt`], then the in-flight registry), so one whose
//! attempt reported is dropped then; and the queues are compacted, dropping such entries,
//! whenever they hold twice the live ones of the last compaction plus [`COMPACT_SLACK`]
//! (amortised: at most about two checks per armed attempt, and memory bounded by the live
//! attempts, not by the step rate times the timeout). This replaced a map and an ordered
//! set updated on every start and every report, which cost the engine about 600-800
//! instructions per timed attempt (docs/benchmarks.md, "Step timeouts in use").
//!
//! The engine enforces the deadline itself, whatever the worker does: a handler stuck in C
//! code, a dead thread or a Ractor that never returns cannot keep a step in progress. It must
//! not decide the failure's consequences (retry, task failure): those are `LiveTask`'s.
//! When no step has a timeout, nothing here runs.
//!
//! [`LiveTask::is_running_attempt`]: crate::live_task::LiveTask::is_running_attempt

use super::{Orchestrator, StepsStarted};
use crate::gate::linger_limit;
use crate::inflight::InflightStep;
use crate::live_task::{Effects, LiveTask};
use actix::prelude::*;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tasker_model::{Execution, TaskId, Timestamp};

/// Entries the queues may hold beyond twice the live ones before they are compacted.
const COMPACT_SLACK: usize = 4096;

/// One armed attempt: its deadline, the step, and when the attempt started (a step whose
/// attempts were reset by a manual operation may run the same attempt number again; the
/// start time tells the runs apart).
struct Armed {
    at: Instant,
    step: InflightStep,
    started: Timestamp,
}

/// The armed deadlines: per distinct timeout, the attempts armed with it, earliest first;
/// and the one timer, armed for the earliest of all.
#[derive(Default)]
pub(super) struct Deadlines {
    queues: Vec<(Duration, VecDeque<Armed>)>,
    /// Entries in all queues, and how many trigger the next compaction.
    len: usize,
    compact_at: usize,
    timer: Option<(Instant, SpawnHandle)>,
}

impl Deadlines {
    /// The queue with the earliest front entry, and that entry's time.
    fn earliest(&self) -> Option<(usize, Instant)> {
        self.queues
            .iter()
            .enumerate()
            .filter_map(|(q, (_, queue))| queue.front().map(|a| (q, a.at)))
            .min_by_key(|(_, at)| *at)
    }

    /// Arms attempt `step`, started at `started`, to time out `timeout` from `now` (`now`
    /// never earlier than an earlier call's: the queues stay in deadline order). The caller
    /// compacts and arms the timer.
    fn push(&mut self, step: InflightStep, timeout: Duration, now: Instant, started: Timestamp) {
        let at = now + timeout;
        let q = match self.queues.iter().position(|(t, _)| *t == timeout) {
            Some(q) => q,
            None => {
                self.queues.push((timeout, VecDeque::new()));
                self.queues.len() - 1
            }
        };
        self.queues[q].1.push_back(Armed { at, step, started });
        self.len += 1;
    }

    /// The earliest entry, taken out when it is due at `now`, with its timeout.
    fn pop_due(&mut self, now: Instant) -> Option<(Armed, Duration)> {
        let (q, at) = self.earliest()?;
        if at > now {
            return None;
        }
        let (timeout, queue) = &mut self.queues[q];
        let armed = queue.pop_front().expect("a front entry");
        self.len -= 1;
        Some((armed, *timeout))
    }
}

/// Whether the attempt `a` armed is still running: the same attempt, started at the same
/// time, in progress and handed out.
fn running(tasks: &FxHashMap<TaskId, LiveTask>, a: &Armed) -> bool {
    tasks.get(&a.step.task_id).is_some_and(|t| {
        t.is_running_attempt(a.step.index, a.step.attempt)
            && t.steps[a.step.index as usize].started_at == Some(a.started)
    })
}

impl Orchestrator {
    /// Workers began these steps: each moves to in_progress (grouped by task, so each
    /// task's effects are applied once), and each with a timeout gets its deadline.
    pub(super) fn steps_started(&mut self, msg: StepsStarted, ctx: &mut Context<Self>) {
        let mut current: Option<(TaskId, Effects)> = None;
        // One clock read per batch (its steps were taken together), and none for a batch
        // without a timed step; `now` never goes back, so the queues stay in deadline order.
        let mut now = None;
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
                        let now = *now.get_or_insert_with(Instant::now);
                        self.deadlines.push(s, t, now, msg.at);
                    }
                }
            }
        }
        if let Some((t, fx)) = current {
            self.apply(t, fx, ctx);
        }
        // Compaction and the timer once per batch rather than per timed step (issue 17:
        // a timed step's cost over an untimed one).
        if now.is_some() {
            if self.deadlines.len > self.deadlines.compact_at {
                self.compact_deadlines();
            }
            self.arm_timer(ctx);
        }
    }

    /// Drops the entries whose attempt is no longer running (it reported, or its task is
    /// gone), and sets when to compact next.
    fn compact_deadlines(&mut self) {
        let tasks = &self.tasks;
        let d = &mut self.deadlines;
        for (_, queue) in &mut d.queues {
            queue.retain(|a| running(tasks, a));
        }
        d.queues.retain(|(_, queue)| !queue.is_empty());
        d.len = d.queues.iter().map(|(_, queue)| queue.len()).sum();
        d.compact_at = 2 * d.len + COMPACT_SLACK;
    }

    /// Arms the timer for the earliest deadline unless it is armed for that time or sooner.
    fn arm_timer(&mut self, ctx: &mut Context<Self>) {
        let Some((_, first)) = self.deadlines.earliest() else {
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

    /// Fails every attempt whose deadline has passed (entries whose attempt reported are
    /// dropped by `deadline_passed`'s checks), then arms the timer for the next.
    fn deadlines_passed(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        while let Some((armed, timeout)) = self.deadlines.pop_due(now) {
            if running(&self.tasks, &armed) {
                self.deadline_passed(armed.step, timeout, ctx);
            }
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
        // Its handler may still run (a thread is interrupted, but may be slow to unwind; a
        // Ractor is abandoned, not stopped): the caps it counts against stay counted until
        // it returns or its linger limit passes (`gate/linger.rs`).
        let capped = self.gate.holds_caps(&step).then_some(step);
        if self
            .links
            .inflight
            .expire(step_id, step.id, capped)
            .is_none()
        {
            return; // its report is on its way
        }
        if capped.is_some() {
            self.linger_caps(step_id, step, linger_limit(Some(timeout)), ctx);
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
