//! The orchestrator actor: owns every live task and carries out the rules in
//! [`crate::live_task`].
//!
//! Each handler finds the task, calls one plain method, and then carries out its effects
//! (`apply.rs`: steps to their channel, retries onto the actor's timer, changes to the state
//! actor, events to the bus through the state actor once those changes are committed, since
//! an event announces a stored fact). Handlers are `do_send` targets: callers never wait,
//! except the few messages that carry a crossbeam reply channel (start, stop, barrier).
//!
//! This file holds the messages, the actor and its handlers; `stored.rs` brings tasks in
//! from the store (recovery, manual operations); `deadlines.rs` moves started steps to
//! in_progress and fails attempts that outlive their step's timeout. It must not hold a task rule: those are
//! `LiveTask`'s.

mod apply;
mod deadlines;
mod gating;
mod stored;

pub use gating::{AttemptReturned, ReleaseTask, SetPaused, SizePool};

use crate::gate::{Gate, Limits, DEPTH};
use crate::inflight::{Inflight, InflightStep};
use crate::live_task::{Effects, LiveTask, TaskOrigin};
use crate::operations::{Operation, Request};
use crate::outcomes::Outcomes;
use crate::registry::RegisteredTemplate;
use crate::work::{ReadyStep, Routed, StepFailure};
use actix::prelude::*;
use crossbeam_channel::{unbounded, Receiver, Sender};
use rustc_hash::FxHashMap;
use serde_json::Value as Json;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tasker_event_bus::{EventBus, Interest};
use tasker_metrics::Metrics;
use tasker_model::{State, StepId, TaskId, TaskerError, TaskerResult, Timestamp};
use tasker_state::{StateActor, TaskView};

/// Create a task (and start it unless `start` is false).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SubmitTask {
    pub task_id: TaskId,
    pub step_ids: Vec<StepId>,
    pub template: Arc<RegisteredTemplate>,
    pub context: Arc<Json>,
    pub origin: TaskOrigin,
    pub start: bool,
    /// Answered once the task's creation is committed (a durable submission).
    pub durable: Option<Sender<TaskerResult<()>>>,
    /// Started, but no step is handed out until [`ReleaseTask`]: an identified task waits
    /// until its creation is committed and found to be the only one of its identity.
    pub held: bool,
}

/// Start a pending task, optionally on a dedicated route; answers on `reply`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StartTask {
    pub task_id: TaskId,
    pub routed: bool,
    /// At most this many of its steps handed out at once, across both pools.
    pub max_parallel: Option<u32>,
    pub reply: Sender<TaskerResult<Option<Receiver<Routed>>>>,
}

/// Workers began these steps.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StepsStarted {
    pub steps: Vec<InflightStep>,
    pub at: Timestamp,
}

/// How a step's handler ended.
#[derive(Debug)]
pub enum StepOutcome {
    Completed(Arc<Json>),
    Failed(StepFailure),
}

/// A worker reports a step.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StepFinished {
    pub step: InflightStep,
    pub outcome: StepOutcome,
    pub at: Timestamp,
}

/// A handler publishes a custom event; answers on `reply` whether it was accepted.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PublishCustom {
    pub step: InflightStep,
    pub name: String,
    pub payload: Arc<Json>,
    pub reply: Sender<TaskerResult<()>>,
}

/// Takes over stored tasks after a restart; answers with the ids it resumed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Recover {
    pub tasks: Vec<(TaskView, Arc<RegisteredTemplate>)>,
    pub reply: Sender<TaskerResult<Vec<TaskId>>>,
}

/// A manual operation. `stored` is the task as read from the store, for a task this engine
/// is not driving. The reply comes from the state actor once the operation's transaction
/// has committed (or from here when a check refuses it).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Operate {
    pub task_id: TaskId,
    pub op: Operation,
    pub request: Request,
    pub stored: Option<(TaskView, Arc<RegisteredTemplate>)>,
    pub reply: Sender<TaskerResult<()>>,
}

/// Answers how many tasks this engine drives, not counting those waiting for their
/// `run_at` (a scheduled task holds no slot of `ClaimSettings::max_tasks` while it waits).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CountLive(pub Sender<usize>);

/// Stops driving tasks another process took over (the store refused this engine's changes
/// to them); steps of theirs still running report into nothing.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DropTasks(pub Vec<TaskId>);

/// Answers once every message sent before it has been handled.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Barrier(pub Sender<()>);

/// Stop dispatching and hand back every step handed out; answers with how many steps were
/// handed back (the protocol: `engine/shutdown.rs`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown(pub Sender<usize>);

/// What the orchestrator shares with its surroundings.
pub struct OrchestratorLinks {
    pub state: Addr<StateActor>,
    pub events: Addr<EventBus>,
    pub event_interest: Arc<Interest>,
    /// One queue per executor (`Execution::index`): thread workers and Ractors each take
    /// only the steps meant for them.
    pub work: [(Sender<ReadyStep>, Receiver<ReadyStep>); 2],
    pub inflight: Arc<Inflight>,
    pub metrics: Arc<Metrics>,
    /// Where a finished task's outcome goes once its finish is committed.
    pub outcomes: Arc<Outcomes>,
    pub backoff_scale: f64,
    /// A `client` engine's: new tasks are stored for workers in other processes and not
    /// driven here.
    pub submit_only: bool,
    /// Told (without blocking) whenever a task leaves this engine, so claiming can refill.
    pub task_ended: Sender<()>,
    /// The dispatch gate's concurrency limits.
    pub limits: Limits,
    /// How long an attempt may run when its template gives no timeout (`None`: no limit).
    pub step_timeout: Option<Duration>,
    /// A store shared with other processes (PostgreSQL): caps are counted in it, across
    /// them all (`gate::broker`). `None`: this process's count is the whole count.
    pub cap_store: Option<Arc<dyn tasker_state::Store>>,
}

/// See the module documentation.
pub struct Orchestrator {
    tasks: FxHashMap<TaskId, LiveTask>,
    links: OrchestratorLinks,
    stopping: bool,
    /// Between handed-out steps and the workers' queues (`gating.rs`).
    gate: Gate,
    /// Trades cap slots with a shared store, when caps are configured and shared.
    caps: Option<crate::gate::CapBroker>,
    deadlines: deadlines::Deadlines,
    /// The last hand-out's [`crate::inflight::AttemptId`] (hand-outs are counted from 1 over the
    /// engine's life, so an id never repeats in it).
    last_attempt_id: u64,
}

impl Orchestrator {
    /// An orchestrator with no tasks.
    pub fn new(links: OrchestratorLinks) -> Orchestrator {
        Orchestrator {
            tasks: FxHashMap::default(),
            gate: Gate::new(links.limits.clone(), DEPTH),
            caps: None,
            links,
            stopping: false,
            deadlines: Default::default(),
            last_attempt_id: 0,
        }
    }

    fn effects(&self) -> Effects {
        Effects {
            events_wanted: self.links.event_interest.mask(),
            ..Effects::default()
        }
    }
}

/// How one handler's changes go to the store.
enum Delivery {
    /// With the next group commit; a failure is reported to the next flush.
    Batched,
    /// With the next group commit, and `reply` told that commit's outcome.
    Acked(Sender<TaskerResult<()>>),
    /// In a transaction of their own (a manual operation whose checks may fail), `reply`
    /// told the outcome.
    Alone(Sender<TaskerResult<()>>),
}

impl Actor for Orchestrator {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.share_caps(ctx);
        // steps/s for `engine.metrics` and the metrics text: a once-a-second sample here keeps
        // the completion path free of any clock or window bookkeeping.
        let mut last = self.links.metrics.steps_completed.load(Ordering::Relaxed);
        ctx.run_interval(Duration::from_secs(1), move |act, _| {
            let now = act.links.metrics.steps_completed.load(Ordering::Relaxed);
            act.links
                .metrics
                .steps_last_second
                .store(now - last, Ordering::Relaxed);
            last = now;
        });
    }
}

impl Handler<SubmitTask> for Orchestrator {
    type Result = ();

    fn handle(&mut self, msg: SubmitTask, ctx: &mut Self::Context) {
        let now = Timestamp::now();
        let mut fx = self.effects();
        let mut task = LiveTask::create(
            msg.task_id,
            msg.step_ids,
            msg.template,
            msg.context,
            msg.origin,
            now,
            &mut fx,
        );
        self.links
            .metrics
            .tasks_submitted
            .fetch_add(1, Ordering::Relaxed);
        if msg.held {
            // No room: every ready step waits in `deferred` until ReleaseTask.
            task.max_parallel = Some(0);
        }
        if msg.start && !self.stopping {
            task.start(now, &mut fx).expect("a new task is pending");
        }
        if self.links.submit_only {
            // Stored unclaimed for a worker elsewhere (woken by the store): not driven here.
            fx.dispatch.clear();
        } else {
            self.tasks.insert(msg.task_id, task);
        }
        let delivery = match msg.durable {
            Some(reply) => Delivery::Acked(reply),
            None => Delivery::Batched,
        };
        self.apply_with(msg.task_id, fx, delivery, ctx);
    }
}

impl Handler<CountLive> for Orchestrator {
    type Result = ();

    fn handle(&mut self, msg: CountLive, _ctx: &mut Self::Context) {
        let now = Timestamp::now();
        let waiting = self
            .tasks
            .values()
            .filter(|t| t.run_at.is_some_and(|at| at > now))
            .count();
        let _ = msg.0.send(self.tasks.len() - waiting);
    }
}

impl Handler<DropTasks> for Orchestrator {
    type Result = ();

    fn handle(&mut self, msg: DropTasks, ctx: &mut Self::Context) {
        for task_id in msg.0 {
            // Its steps out here are no longer this engine's to wait for: left in flight, a
            // capped one's count stayed taken for good (and a late report of one could take a
            // new hand-out were the task claimed back).
            let out: Vec<StepId> = (self.tasks.get(&task_id))
                .map(|t| {
                    t.steps
                        .iter()
                        .filter(|s| s.in_process)
                        .map(|s| s.id)
                        .collect()
                })
                .unwrap_or_default();
            self.release_steps(task_id, out, ctx);
            if let Some(task) = self.tasks.remove(&task_id) {
                if let Some((route, _)) = &task.route {
                    let _ = route.send(Routed::Finished(task_id, task.state));
                }
                self.links.outcomes.live_ended(task_id);
                let _ = self.links.task_ended.try_send(());
            }
        }
    }
}

impl Handler<StartTask> for Orchestrator {
    type Result = ();

    fn handle(&mut self, msg: StartTask, ctx: &mut Self::Context) {
        let mut fx = self.effects();
        let result = match self.tasks.get_mut(&msg.task_id) {
            _ if self.stopping => Err(TaskerError::Orchestration("the engine is stopping".into())),
            None => Err(TaskerError::InvalidState {
                subject: format!("task {}", msg.task_id),
                message: "is not a live task of this engine (unknown, or already finished)".into(),
            }),
            Some(task) => task.start(Timestamp::now(), &mut fx).map(|()| {
                task.max_parallel = msg.max_parallel.map(|m| m.max(1));
                if msg.routed {
                    let (tx, rx) = unbounded();
                    task.route = Some((tx, rx.clone()));
                    Some(rx)
                } else {
                    None
                }
            }),
        };
        let _ = msg.reply.send(result);
        self.apply(msg.task_id, fx, ctx);
    }
}

impl Handler<StepsStarted> for Orchestrator {
    type Result = ();

    fn handle(&mut self, msg: StepsStarted, ctx: &mut Self::Context) {
        self.steps_started(msg, ctx);
    }
}

impl Handler<StepFinished> for Orchestrator {
    type Result = ();

    fn handle(&mut self, msg: StepFinished, ctx: &mut Self::Context) {
        let started = Instant::now();
        let mut fx = self.effects();
        let dispatch = !self.stopping;
        self.gate.finished(msg.step);
        let Some(task) = self.tasks.get_mut(&msg.step.task_id) else {
            self.refill();
            return;
        };
        let result = match msg.outcome {
            StepOutcome::Completed(results) => {
                self.links
                    .metrics
                    .steps_completed
                    .fetch_add(1, Ordering::Relaxed);
                task.complete(msg.step.index, results, msg.at, dispatch, &mut fx)
            }
            StepOutcome::Failed(failure) => {
                self.links
                    .metrics
                    .steps_failed
                    .fetch_add(1, Ordering::Relaxed);
                task.fail(
                    msg.step.index,
                    &failure,
                    msg.at,
                    self.links.backoff_scale,
                    &mut fx,
                )
            }
        };
        if let Err(e) = result {
            // The inflight registry admits one report per hand-out, so this means the step
            // was moved by something else meanwhile; the report is dropped, loudly.
            tasker_metrics::log_error!("tasker-core: dropped a step report: {e}");
        }
        if !dispatch {
            fx.dispatch.clear();
        }
        self.apply(msg.step.task_id, fx, ctx);
        self.links.metrics.readiness.record(started.elapsed());
    }
}

impl Handler<PublishCustom> for Orchestrator {
    type Result = ();

    fn handle(&mut self, msg: PublishCustom, ctx: &mut Self::Context) {
        let mut fx = self.effects();
        let result = match self.tasks.get(&msg.step.task_id) {
            Some(task) => task.custom_event(msg.step.index, &msg.name, msg.payload, &mut fx),
            None => Err(TaskerError::InvalidState {
                subject: format!("task {}", msg.step.task_id),
                message: "is not running".into(),
            }),
        };
        let _ = msg.reply.send(result);
        self.apply(msg.step.task_id, fx, ctx);
    }
}

impl Handler<Recover> for Orchestrator {
    type Result = ();

    fn handle(&mut self, msg: Recover, ctx: &mut Self::Context) {
        self.recover(msg, ctx);
    }
}

impl Handler<Operate> for Orchestrator {
    type Result = ();

    fn handle(&mut self, msg: Operate, ctx: &mut Self::Context) {
        self.operate(msg, ctx);
    }
}

impl Handler<Barrier> for Orchestrator {
    type Result = ();

    fn handle(&mut self, msg: Barrier, _ctx: &mut Self::Context) {
        let _ = msg.0.send(());
    }
}

impl Handler<Shutdown> for Orchestrator {
    type Result = ();

    fn handle(&mut self, msg: Shutdown, ctx: &mut Self::Context) {
        self.stopping = true;
        // What the gate held is still in flight: the sweep below hands it back.
        self.gate.clear();
        let now = Timestamp::now();
        // Empty the queues; what was on them is handed back by the sweep below.
        for (_, queue) in &self.links.work {
            queue.try_iter().for_each(drop);
        }
        for task in self.tasks.values_mut() {
            if let Some((_, rx)) = task.route.take() {
                rx.try_iter().for_each(drop);
            }
        }
        // Every step still handed out is handed back: a queued (or taken but not yet
        // started) step returns to pending; a started one goes to error (engine_stopped).
        let wanted = self.links.event_interest.mask();
        let mut taken_back = 0;
        let mut effects = Vec::new();
        for task in self.tasks.values_mut() {
            let mut fx = Effects {
                events_wanted: wanted,
                ..Effects::default()
            };
            for i in 0..task.steps.len() as u32 {
                let step = &task.steps[i as usize];
                if !step.in_process || self.links.inflight.take(step.id).is_none() {
                    continue;
                }
                if step.state == State::InProgress {
                    task.hand_back_started(i, now, &mut fx);
                } else {
                    task.hand_back_queued(i);
                }
                taken_back += 1;
            }
            effects.push((task.id, fx));
        }
        self.links
            .metrics
            .steps_handed_back
            .fetch_add(taken_back as u64, Ordering::Relaxed);
        for (task_id, fx) in effects {
            self.apply(task_id, fx, ctx);
        }
        let _ = msg.0.send(taken_back);
    }
}
