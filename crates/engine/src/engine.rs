//! [`Engine`]: the handle to a running engine.
//!
//! Every method is safe to call from any thread. Calls that change something send a message
//! and return; only `wait_*`, `flush` and `stop` wait, each with a timeout and an
//! [`Interrupt`] so the binding can release the GVL and still be interrupted.

use crate::awaiting::AwaitingTemplates;
use crate::inflight::{Inflight, InflightStep};
use crate::live_task::TaskOrigin;
use crate::manual::{Operation, Request};
use crate::metrics::{HistogramSnapshot, Metrics};
use crate::orchestrator::{
    Barrier, Manipulate, Orchestrator, OrchestratorLinks, PublishCustom, Recover, Shutdown,
    StartTask, StepFinished, StepOutcome, StepsStarted, SubmitTask,
};
use crate::registry::{RegisteredTemplate, TemplateRegistry};
use crate::stats::EngineStats;
use crate::work::{ReadyStep, Routed, StepFailure};
use actix::prelude::*;
use crossbeam_channel::{bounded, select, unbounded, Receiver, RecvTimeoutError, Sender};
use parking_lot::{Mutex, RwLock};
use serde_json::Value as Json;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tasker_event_bus::{
    Event, EventBus, Interest, Overflow, Pattern, Publish, Subscription, Unsubscribe,
};
use tasker_insights::{HealthCounts, HealthObserver, LiveHealth};
use tasker_model::template::load_templates;
use tasker_model::{
    EngineConfig, Execution, State, StepId, TaskId, TaskTemplate, TaskerError, TaskerResult,
    Timestamp,
};
use tasker_state::insights::{
    AnalyticsMetrics, HealthCounts as StoredHealth, SlowQuery, SlowestStep, SlowestStepGroup,
    SlowestTask,
};
use tasker_state::{
    Flush, MemoryStore, StateActor, StateStats, Store, TaskFinishedSignal, TaskView,
};

/// How to build an engine.
pub struct EngineOptions {
    pub config: EngineConfig,
    /// Where tasks live; the in-memory store when `None`.
    pub store: Option<Arc<dyn Store>>,
    /// Group-commit window of the state actor (zero: each message is one batch).
    pub commit_interval: Duration,
    /// Group-commit size limit.
    pub max_batch: usize,
    /// Environment whose template overrides apply (`environments:` in a template).
    pub environment: Option<String>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            config: EngineConfig::default(),
            store: None,
            commit_interval: Duration::ZERO,
            max_batch: 1024,
            environment: None,
        }
    }
}

/// A task submission.
#[derive(Debug, Clone, Default)]
pub struct SubmitRequest {
    pub name: String,
    pub namespace: Option<String>,
    pub version: Option<String>,
    pub context: Json,
    pub initiator: Option<String>,
    pub source_system: Option<String>,
    pub reason: Option<String>,
    pub tags: Option<Json>,
    /// False creates the task pending, to be started later (e.g. by a coordinator).
    pub start: bool,
}

/// A submitted task whose creation may not be committed yet; see [`Engine::submit_durable`].
#[derive(Debug)]
pub struct DurableSubmission {
    pub task_id: TaskId,
    rx: Receiver<TaskerResult<()>>,
}

impl DurableSubmission {
    /// Waits until the task's creation is committed and returns its id; the store's error
    /// when the transaction carrying it failed (the task does not exist then), `Timeout`
    /// when `timeout` passes first (it may still commit).
    pub fn wait(&self, timeout: Duration) -> TaskerResult<TaskId> {
        let what = format!("durable submission of task {}", self.task_id);
        match await_reply(&self.rx, timeout, &what)? {
            Ok(()) => Ok(self.task_id),
            Err(e) => Err(TaskerError::Database(format!(
                "task {} was not stored, its creation's transaction failed: {e}",
                self.task_id
            ))),
        }
    }
}

/// What [`Engine::recover`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecoveryReport {
    /// Tasks now driven by this engine.
    pub resumed: usize,
    /// Their ids.
    pub resumed_ids: Vec<TaskId>,
    /// Unfinished tasks another engine owns.
    pub owned_elsewhere: usize,
    /// Tasks left alone, with why.
    pub skipped: Vec<(TaskId, String)>,
}

/// Lets another thread cut a wait short (the binding's unblocking function triggers it).
pub struct Interrupt {
    flag: AtomicBool,
    tx: Sender<()>,
    rx: Receiver<()>,
}

impl Default for Interrupt {
    fn default() -> Self {
        let (tx, rx) = bounded(1);
        Interrupt {
            flag: AtomicBool::new(false),
            tx,
            rx,
        }
    }
}

impl Interrupt {
    /// Ends the wait it guards as soon as possible. Safe from any thread, never blocks.
    pub fn trigger(&self) {
        self.flag.store(true, Ordering::SeqCst);
        let _ = self.tx.try_send(());
    }

    /// Whether it was triggered.
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

/// The live counters' starting point, from the store's counts.
fn live_seed(stored: &StoredHealth) -> HealthCounts {
    let n = |v: u64| v as i64;
    HealthCounts {
        tasks: [
            n(stored.pending_tasks),
            n(stored.in_progress_tasks),
            n(stored.complete_tasks),
            n(stored.error_tasks),
            n(stored.cancelled_tasks),
            n(stored.resolved_manually_tasks),
        ],
        steps: [
            n(stored.pending_steps),
            n(stored.in_progress_steps),
            n(stored.complete_steps),
            n(stored.error_steps),
            n(stored.cancelled_steps),
            n(stored.resolved_manually_steps),
        ],
        retryable_error_steps: n(stored.retryable_error_steps),
        exhausted_retry_steps: n(stored.exhausted_retry_steps),
    }
}

/// The entries of [`Engine::stats`] that are levels, not counts since start.
const GAUGES: [&str; 4] = [
    "steps_in_flight",
    "steps_queued",
    "steps_queued_for_ractors",
    "event_subscribers",
];

/// Why a wait for steps ended without any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitEnd {
    TimedOut,
    Interrupted,
    /// The channel's sending side is gone: the engine stopped (task routes only).
    Closed,
}

/// The actor addresses and thread of a running System.
struct Running {
    system: System,
    thread: JoinHandle<()>,
}

/// See the module documentation.
pub struct Engine {
    registry: TemplateRegistry,
    store: Arc<dyn Store>,
    inflight: Arc<Inflight>,
    /// Ready steps, one queue per executor (`Execution::index`).
    work: [Receiver<ReadyStep>; 2],
    orchestrator: Addr<Orchestrator>,
    state: Addr<StateActor>,
    events: Addr<EventBus>,
    event_interest: Arc<Interest>,
    next_subscriber: AtomicU64,
    finished: Arc<TaskFinishedSignal>,
    /// True once stopping began. Reports take it shared, `stop` exclusively, so no report
    /// can slip into the orchestrator's mailbox after the shutdown message.
    stopping: RwLock<bool>,
    running: Mutex<Option<Running>>,
    stats: Arc<EngineStats>,
    metrics: Arc<Metrics>,
    /// Tasks and steps by state, moved by each committed batch.
    health: Arc<LiveHealth>,
    /// Steps the worker and Ractor pools can run at once (they say so when they start).
    capacity: AtomicUsize,
    started_at: Instant,
    /// Handler class → where its steps run, as its Ruby class declares.
    handler_executions: RwLock<std::collections::HashMap<String, Execution>>,
    state_stats: Arc<StateStats>,
    config: EngineConfig,
    environment: Option<String>,
    /// Drains waiting for work right now, per queue; a drain leaves them a fair share of
    /// what is queued.
    idle_drains: [AtomicUsize; 2],
    /// The fork count (`fork::generation`) and process id when the engine started.
    born: (u64, u32),
    /// Dropped by `stop`: every drain waiting on the receiver sees the disconnect at once.
    stop_sender: Mutex<Option<Sender<()>>>,
    stop_receiver: Receiver<()>,
    /// Claimed unfinished tasks whose template was not registered when `recover` ran.
    awaiting: AwaitingTemplates,
}

/// How long a read of a task this engine just accepted waits for its creation to commit.
const READ_OWN_WRITES_TIMEOUT: Duration = Duration::from_secs(10);
/// How long registering a template waits for the tasks that waited for it to resume.
const RESUME_TIMEOUT: Duration = Duration::from_secs(30);

/// Waits for a reply on `rx`, naming `what` if the engine does not answer in time.
fn await_reply<T>(rx: &Receiver<T>, timeout: Duration, what: &str) -> TaskerResult<T> {
    rx.recv_timeout(timeout).map_err(|e| match e {
        RecvTimeoutError::Timeout => TaskerError::Timeout(format!(
            "{what}: no answer from the engine within {timeout:?}"
        )),
        RecvTimeoutError::Disconnected => {
            TaskerError::Orchestration(format!("{what}: the engine's actors are gone"))
        }
    })
}

impl Engine {
    /// Starts an engine: spawns its System thread and two arbiter threads (state, events).
    pub fn start(options: EngineOptions) -> TaskerResult<Engine> {
        let store: Arc<dyn Store> = options
            .store
            .unwrap_or_else(|| Arc::new(MemoryStore::new()));
        let inflight = Arc::new(Inflight::default());
        let stats = Arc::new(EngineStats::default());
        let metrics = Arc::new(Metrics::default());
        // Live counts start from what the store holds (tasks of earlier runs) and move
        // with every batch this engine commits from here on.
        let health = Arc::new(LiveHealth::seeded(live_seed(
            &store.health_counts(Timestamp::now())?,
        )));
        let state_stats = Arc::new(StateStats::default());
        let finished = Arc::new(TaskFinishedSignal::default());
        let event_interest = Arc::new(Interest::default());
        let queues = [unbounded(), unbounded()];
        let receivers = [queues[0].1.clone(), queues[1].1.clone()];

        let (ready_tx, ready_rx) = bounded(1);
        let thread = {
            let store = store.clone();
            let inflight = inflight.clone();
            let stats = stats.clone();
            let metrics = metrics.clone();
            let health = health.clone();
            let state_stats = state_stats.clone();
            let finished = finished.clone();
            let event_interest = event_interest.clone();
            let backoff_scale = options.config.backoff_scale;
            let (max_batch, commit_interval) = (options.max_batch, options.commit_interval);
            std::thread::Builder::new()
                .name("tasker-engine".into())
                .spawn(move || {
                    let system = System::new();
                    let state_arbiter = Arbiter::new();
                    let events_arbiter = Arbiter::new();
                    system.block_on(async {
                        let state =
                            StateActor::start_in_arbiter(&state_arbiter.handle(), move |_| {
                                StateActor::new(
                                    store,
                                    max_batch,
                                    commit_interval,
                                    finished,
                                    state_stats,
                                )
                                .with_observer(Arc::new(HealthObserver(health)))
                            });
                        let interest = event_interest.clone();
                        let events =
                            EventBus::start_in_arbiter(&events_arbiter.handle(), move |_| {
                                EventBus::new(interest)
                            });
                        let orchestrator = Orchestrator::new(OrchestratorLinks {
                            state: state.clone(),
                            events: events.clone(),
                            event_interest,
                            work: queues,
                            inflight,
                            stats,
                            metrics,
                            backoff_scale,
                        })
                        .start();
                        let _ = ready_tx.send((System::current(), orchestrator, state, events));
                    });
                    let _ = system.run();
                    // The System stopped its arbiters; wait for their threads so none outlive
                    // the engine.
                    let _ = state_arbiter.join();
                    let _ = events_arbiter.join();
                })
                .map_err(|e| {
                    TaskerError::Orchestration(format!("cannot spawn the engine thread: {e}"))
                })?
        };
        let (system, orchestrator, state, events) =
            await_reply(&ready_rx, Duration::from_secs(10), "engine start")?;
        let (stop_sender, stop_receiver) = bounded(0);
        Ok(Engine {
            registry: TemplateRegistry::default(),
            store,
            inflight,
            work: receivers,
            orchestrator,
            state,
            events,
            event_interest,
            next_subscriber: AtomicU64::new(1),
            finished,
            stopping: RwLock::new(false),
            running: Mutex::new(Some(Running { system, thread })),
            stats,
            metrics,
            health,
            capacity: AtomicUsize::new(0),
            started_at: Instant::now(),
            handler_executions: RwLock::default(),
            state_stats,
            config: options.config,
            environment: options.environment,
            idle_drains: [AtomicUsize::new(0), AtomicUsize::new(0)],
            born: (crate::fork::generation(), std::process::id()),
            stop_sender: Mutex::new(Some(stop_sender)),
            stop_receiver,
            awaiting: AwaitingTemplates::default(),
        })
    }

    /// Loads templates from a file or a directory and registers them all, or none when any
    /// is invalid. Returns the keys registered, as `namespace/name@version`.
    pub fn register_templates(&self, path: &Path) -> TaskerResult<Vec<String>> {
        let templates = load_templates(path)?;
        self.register(templates)
    }

    /// Registers one template given as YAML text; `source` names it in errors.
    pub fn register_template_yaml(&self, yaml: &str, source: &str) -> TaskerResult<Vec<String>> {
        self.register(vec![TaskTemplate::from_yaml(yaml, source)?])
    }

    /// The steps that would run in Ractors if the templates at `path` were registered, as
    /// (handler class, "source (task key), step 'name'"); registers nothing. The Ruby side checks
    /// those handler classes before it registers.
    pub fn ractor_steps_in(&self, path: &Path) -> TaskerResult<Vec<(String, String)>> {
        Ok(ractor_steps(&self.compile(load_templates(path)?)?))
    }

    /// [`Engine::ractor_steps_in`] for one template given as YAML text.
    pub fn ractor_steps_in_yaml(
        &self,
        yaml: &str,
        source: &str,
    ) -> TaskerResult<Vec<(String, String)>> {
        Ok(ractor_steps(
            &self.compile(vec![TaskTemplate::from_yaml(yaml, source)?])?,
        ))
    }

    /// Applies the environment's overrides and the handler classes' declared executions,
    /// and compiles (so validates) every template.
    fn compile(&self, templates: Vec<TaskTemplate>) -> TaskerResult<Vec<Arc<RegisteredTemplate>>> {
        let mut templates = match &self.environment {
            Some(env) => templates
                .iter()
                .map(|t| t.for_environment(env))
                .collect::<TaskerResult<Vec<_>>>()?,
            None => templates,
        };
        let declared = self.handler_executions.read();
        if !declared.is_empty() {
            for step in templates
                .iter_mut()
                .flat_map(|t| t.step_templates.iter_mut())
            {
                if step.execution.is_none() {
                    step.execution = declared.get(step.handler_class.as_str()).copied();
                }
            }
        }
        drop(declared);
        TemplateRegistry::compile_all(templates)
    }

    /// Records where `handler_class`'s steps run when their template step does not say
    /// (Ruby reads it from the class, `execution :ractor`, before registering). A step's own
    /// `execution:` still wins, and the class's declaration wins over the template default.
    pub fn declare_handler_execution(&self, handler_class: &str, execution: Execution) {
        self.handler_executions
            .write()
            .insert(handler_class.to_string(), execution);
    }

    /// The handler classes of steps in the templates at `path` (or in `yaml`) that do not
    /// say where they run, each once: the classes whose own declaration would decide it.
    pub fn undeclared_handlers_in(
        &self,
        path: &Path,
        yaml: Option<&str>,
    ) -> TaskerResult<Vec<String>> {
        let templates = match yaml {
            Some(text) => vec![TaskTemplate::from_yaml(text, &path.display().to_string())?],
            None => load_templates(path)?,
        };
        let mut out: Vec<String> = Vec::new();
        for step in templates.iter().flat_map(|t| t.step_templates.iter()) {
            if step.execution.is_none() && !out.contains(&step.handler_class) {
                out.push(step.handler_class.clone());
            }
        }
        Ok(out)
    }

    fn register(&self, templates: Vec<TaskTemplate>) -> TaskerResult<Vec<String>> {
        // Compile (and so validate) everything before the store records anything.
        let compiled = self.compile(templates)?;
        for t in &compiled {
            self.store.register_template(&t.template)?;
        }
        self.registry.insert_all(&compiled);
        let keys: Vec<String> = compiled.iter().map(|t| t.key.to_string()).collect();
        self.resume_awaiting(&keys)?;
        Ok(keys)
    }

    /// Resumes the tasks `recover` parked because one of `keys` was not registered yet.
    /// Registration has succeeded when this runs, so a failure names what to do next.
    fn resume_awaiting(&self, keys: &[String]) -> TaskerResult<()> {
        let ids = self.awaiting.take(keys);
        if ids.is_empty() || self.is_stopped() {
            return Ok(());
        }
        let count = ids.len();
        self.resume_claimed(ids, RESUME_TIMEOUT, &mut RecoveryReport::default())
            .map_err(|e| {
                TaskerError::Orchestration(format!(
                    "templates {} were registered, but resuming the {count} unfinished task(s) \
                     waiting for them failed: {e}; call recover to try again",
                    keys.join(", ")
                ))
            })
    }

    /// Unfinished tasks claimed by `recover` that wait for a template to be registered, by
    /// template key (`namespace/name@version`). Registering the template resumes them.
    pub fn awaiting_templates(&self) -> Vec<(String, Vec<TaskId>)> {
        self.awaiting.snapshot()
    }

    /// The registered template for a name (see [`TemplateRegistry::find`]).
    pub fn template(
        &self,
        name: &str,
        namespace: Option<&str>,
        version: Option<&str>,
    ) -> TaskerResult<Arc<RegisteredTemplate>> {
        self.registry.find(name, namespace, version)
    }

    /// Every registered template's key.
    pub fn template_keys(&self) -> Vec<String> {
        self.registry
            .keys()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn ensure_running(&self, stopping: &bool) -> TaskerResult<()> {
        if *stopping {
            return Err(TaskerError::Orchestration("the engine is stopped".into()));
        }
        if !self.orchestrator.connected() {
            return Err(TaskerError::Orchestration(
                "the engine's orchestrator is gone (its thread ended unexpectedly); start a new engine".into(),
            ));
        }
        Ok(())
    }

    /// Validates and submits a task; returns its id at once. A context that violates the
    /// template's schema is refused and creates nothing. The task is durable once the
    /// store commits its creation (soon, with the next group commit; [`Engine::flush`]
    /// waits for it); use [`Engine::submit_durable`] to be told.
    pub fn submit(&self, req: SubmitRequest) -> TaskerResult<TaskId> {
        self.submit_with(req, None)
    }

    /// Like [`Engine::submit`], and returns a [`DurableSubmission`] that says when the task's
    /// creation is committed: a caller that must not lose the submission in a crash waits
    /// on it before acknowledging its own request.
    pub fn submit_durable(&self, req: SubmitRequest) -> TaskerResult<DurableSubmission> {
        let (tx, rx) = bounded(1);
        let task_id = self.submit_with(req, Some(tx))?;
        Ok(DurableSubmission { task_id, rx })
    }

    fn submit_with(
        &self,
        req: SubmitRequest,
        durable: Option<Sender<TaskerResult<()>>>,
    ) -> TaskerResult<TaskId> {
        let template =
            self.registry
                .find(&req.name, req.namespace.as_deref(), req.version.as_deref())?;
        let mut req = req;
        match &req.context {
            Json::Object(_) => {}
            Json::Null => req.context = Json::Object(Default::default()),
            other => {
                return Err(TaskerError::validation(
                    format!("context for task {}", template.key),
                    format!("must be a Hash (a JSON object), got {}", json_kind(other)),
                ))
            }
        }
        if let Some(schema) = &template.template.schema {
            schema.check(&req.context).map_err(|problems| {
                TaskerError::validation(
                    format!(
                        "context for task {} ({})",
                        template.key, template.template.source
                    ),
                    format!("does not match the template's schema: {problems}"),
                )
            })?;
        }
        let stopping = self.stopping.read();
        self.ensure_running(&stopping)?;
        let (task_id, step_ids) = self.store.allocate_ids(template.graph.len() as u32)?;
        self.orchestrator.do_send(SubmitTask {
            task_id,
            step_ids,
            template,
            context: Arc::new(req.context),
            origin: TaskOrigin {
                initiator: req.initiator,
                source_system: req.source_system,
                reason: req.reason,
                tags: req.tags,
            },
            start: req.start,
            durable,
        });
        Ok(task_id)
    }

    /// Starts a task created with `start: false`. With `routed`, its thread steps go to the
    /// returned channel instead of the shared one, for a coordinator that drives just this
    /// task (its Ractor steps still go to the Ractor pool). With `max_parallel`, at most that
    /// many of its steps are handed out at once, across both pools.
    pub fn start_task(
        &self,
        task_id: TaskId,
        routed: bool,
        max_parallel: Option<u32>,
        timeout: Duration,
    ) -> TaskerResult<Option<Receiver<Routed>>> {
        let (tx, rx) = bounded(1);
        {
            let stopping = self.stopping.read();
            self.ensure_running(&stopping)?;
            self.orchestrator.do_send(StartTask {
                task_id,
                routed,
                max_parallel,
                reply: tx,
            });
        }
        await_reply(&rx, timeout, &format!("start task {task_id}"))?
    }

    /// Takes up to `max` ready thread-pool steps without waiting (a fair share when other
    /// drains wait).
    pub fn try_next_steps(&self, max: usize) -> TaskerResult<Vec<ReadyStep>> {
        self.try_next_steps_for(Execution::Thread, max)
    }

    /// Takes up to `max` ready steps of one executor's queue without waiting.
    pub fn try_next_steps_for(
        &self,
        executor: Execution,
        max: usize,
    ) -> TaskerResult<Vec<ReadyStep>> {
        let (queue, idle) = self.queue(executor);
        let take = fair_share(queue.len(), max, idle.load(Ordering::Relaxed));
        let steps: Vec<ReadyStep> = queue.try_iter().take(take).collect();
        self.mark_started(&steps);
        Ok(steps)
    }

    /// Waits up to `timeout` for at least one ready thread-pool step, then takes up to `max`.
    pub fn wait_next_steps(
        &self,
        max: usize,
        timeout: Duration,
        interrupt: &Interrupt,
    ) -> Result<Vec<ReadyStep>, WaitEnd> {
        self.wait_next_steps_for(Execution::Thread, max, timeout, interrupt)
    }

    /// Waits up to `timeout` for at least one ready step of one executor, then takes up to
    /// `max`.
    pub fn wait_next_steps_for(
        &self,
        executor: Execution,
        max: usize,
        timeout: Duration,
        interrupt: &Interrupt,
    ) -> Result<Vec<ReadyStep>, WaitEnd> {
        let (queue, idle) = self.queue(executor);
        let steps = wait_batch(queue, &self.stop_receiver, max, timeout, interrupt, idle)?;
        self.mark_started(&steps);
        Ok(steps)
    }

    fn queue(&self, executor: Execution) -> (&Receiver<ReadyStep>, &AtomicUsize) {
        (
            &self.work[executor.index()],
            &self.idle_drains[executor.index()],
        )
    }

    /// Waits on a task route (see [`Engine::start_task`]); a `Finished` item ends it.
    pub fn wait_routed(
        &self,
        route: &Receiver<Routed>,
        max: usize,
        timeout: Duration,
        interrupt: &Interrupt,
    ) -> Result<Vec<Routed>, WaitEnd> {
        let idle = AtomicUsize::new(0);
        let items = match wait_batch(route, &self.stop_receiver, max, timeout, interrupt, &idle) {
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
                Routed::Step(s) => Some(InflightStep {
                    task_id: s.task_id,
                    index: s.index,
                }),
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
            steps: steps
                .iter()
                .map(|s| InflightStep {
                    task_id: s.task_id,
                    index: s.index,
                })
                .collect(),
            at: Timestamp::now(),
        });
    }

    fn report(&self, step_id: StepId, outcome: StepOutcome) -> TaskerResult<()> {
        let stopping = self.stopping.read();
        if *stopping {
            return Err(TaskerError::Orchestration(format!(
                "step {step_id}: the engine is stopped; the step was taken back and will run again"
            )));
        }
        let step = self
            .inflight
            .take(step_id)
            .ok_or_else(|| TaskerError::InvalidState {
                subject: format!("step {step_id}"),
                message:
                    "is not handed out to a worker (unknown id, already reported, or taken back)"
                        .into(),
            })?;
        self.orchestrator.do_send(StepFinished {
            step,
            outcome,
            at: Timestamp::now(),
        });
        Ok(())
    }

    /// Reports a step's success.
    pub fn complete_step(&self, step_id: StepId, results: Json) -> TaskerResult<()> {
        self.report(step_id, StepOutcome::Completed(Arc::new(results)))
    }

    /// Reports a step's failure.
    pub fn fail_step(&self, step_id: StepId, failure: StepFailure) -> TaskerResult<()> {
        self.report(step_id, StepOutcome::Failed(failure))
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

    /// Subscribes a consumer (a Ruby dispatcher, or Rust code) to events matching any of
    /// `patterns`, buffered up to `capacity` with `overflow` deciding what a full buffer
    /// loses. Events announce committed transitions, in order per task.
    pub fn subscribe<S: AsRef<str>>(
        &self,
        patterns: &[S],
        capacity: usize,
        overflow: Overflow,
    ) -> TaskerResult<Subscription> {
        let pattern = Pattern::parse_all(patterns)
            .map_err(|m| TaskerError::validation("event pattern", m))?;
        let id = self.next_subscriber.fetch_add(1, Ordering::Relaxed);
        let (msg, subscription) =
            EventBus::subscription(id, pattern, capacity.max(1), overflow, &self.event_interest);
        self.events.do_send(msg);
        Ok(subscription)
    }

    /// Hands `events` straight to the bus, bypassing the orchestrator and the store: for
    /// diagnostics and for benchmarking delivery on its own.
    pub fn publish_raw_events(&self, events: Vec<Event>) {
        self.events.do_send(Publish(events));
    }

    /// Removes a subscriber.
    pub fn unsubscribe(&self, id: u64) {
        self.events.do_send(Unsubscribe(id));
    }

    /// Takes over every unfinished task in the store that no other engine owns: steps that
    /// were handed out when the previous process died are failed (`engine_restart`) and
    /// retried; the rest continue where they were. A task whose template is not registered
    /// yet stays claimed, is listed in the report's `skipped`, and resumes as soon as its
    /// template is registered (so start-then-register works as well as the other order).
    pub fn recover(&self, timeout: Duration) -> TaskerResult<RecoveryReport> {
        let ids = self.store.unfinished_tasks()?;
        let claimed = self.store.claim_tasks(&ids)?;
        let mut report = RecoveryReport {
            owned_elsewhere: ids.len() - claimed.len(),
            ..RecoveryReport::default()
        };
        self.resume_claimed(claimed, timeout, &mut report)?;
        Ok(report)
    }

    /// Restores claimed tasks from the store and hands them to the orchestrator; a task
    /// whose template is not registered is parked until it is.
    fn resume_claimed(
        &self,
        claimed: Vec<TaskId>,
        timeout: Duration,
        report: &mut RecoveryReport,
    ) -> TaskerResult<()> {
        let mut tasks = Vec::with_capacity(claimed.len());
        for id in claimed {
            let Some(view) = self.store.task(id)? else {
                continue;
            };
            let key = &view.task.template;
            match self
                .registry
                .find(&key.name, Some(&key.namespace), Some(&key.version))
            {
                Ok(template) => tasks.push((view, template)),
                Err(_) => {
                    let key = key.to_string();
                    self.awaiting.park(&key, id);
                    report.skipped.push((
                        id,
                        format!("template {key} is not registered; the task resumes when it is"),
                    ));
                }
            }
        }
        if tasks.is_empty() {
            return Ok(());
        }
        let (tx, rx) = bounded(1);
        {
            let stopping = self.stopping.read();
            self.ensure_running(&stopping)?;
            self.orchestrator.do_send(Recover { tasks, reply: tx });
        }
        report.resumed_ids = await_reply(&rx, timeout, "recover")??;
        report.resumed = report.resumed_ids.len();
        Ok(())
    }

    /// Runs a manual operation on a task or one of its steps and returns once it is
    /// committed (see [`crate::manual`]).
    pub fn manipulate(
        &self,
        task_id: TaskId,
        op: Operation,
        request: Request,
        timeout: Duration,
    ) -> TaskerResult<()> {
        let view = self.read_own(|store| store.task(task_id))?.ok_or_else(|| {
            TaskerError::validation(
                format!("task {task_id}"),
                "no such task in this engine's store",
            )
        })?;
        if matches!(
            view.state,
            State::Pending | State::InProgress | State::Error
        ) && self.store.claim_tasks(&[task_id])?.is_empty()
        {
            return Err(TaskerError::Orchestration(format!(
                "task {task_id} is being orchestrated by another engine; change it there"
            )));
        }
        let key = view.task.template.clone();
        let template = self
            .registry
            .find(&key.name, Some(&key.namespace), Some(&key.version))
            .map_err(|_| {
                TaskerError::validation(
                    format!("task {task_id}"),
                    format!("its template {key} is not registered with this engine"),
                )
            })?;
        let (tx, rx) = bounded(1);
        {
            let stopping = self.stopping.read();
            self.ensure_running(&stopping)?;
            self.orchestrator.do_send(Manipulate {
                task_id,
                op,
                request,
                stored: Some((view, template)),
                reply: tx,
            });
        }
        await_reply(&rx, timeout, &format!("manual operation on task {task_id}"))?
    }

    /// Whether this process is a fork of the one that started the engine: the engine then
    /// cannot be used here (see [`crate::fork`]).
    pub fn forked(&self) -> bool {
        crate::fork::generation() != self.born.0
    }

    /// The process that started the engine.
    pub fn started_in_process(&self) -> u32 {
        self.born.1
    }

    /// Answers once every change sent so far is applied by the store.
    pub fn flush(&self, timeout: Duration) -> TaskerResult<()> {
        let deadline = Instant::now() + timeout;
        let (tx, rx) = bounded(1);
        self.orchestrator.do_send(Barrier(tx));
        await_reply(&rx, timeout, "flush (orchestrator)")?;
        let (tx, rx) = bounded(1);
        self.state.do_send(Flush { reply: tx });
        await_reply(
            &rx,
            deadline.saturating_duration_since(Instant::now()),
            "flush (store)",
        )?
    }

    /// A task with its steps and history, read from the store (works after `stop` too).
    /// Reads its own writes: a task this engine just accepted is found (see
    /// [`Engine::read_own`]).
    pub fn task(&self, task_id: TaskId) -> TaskerResult<Option<TaskView>> {
        self.read_own(|store| store.task(task_id))
    }

    /// A task's current state (its most recent transition), or `None` when there is no such
    /// task; reads its own writes like [`Engine::task`]. One indexed read, no steps.
    pub fn task_state(&self, task_id: TaskId) -> TaskerResult<Option<State>> {
        self.read_own(|store| store.task_state(task_id))
    }

    /// Reads a task with `read`; when the store does not have it yet and this engine
    /// is running, waits for everything this engine has accepted so far to commit (at most
    /// [`READ_OWN_WRITES_TIMEOUT`]) and reads once more. So an id that `submit` just
    /// returned is always found by this engine, while a read of an unknown id costs one
    /// flush. Task ids from another process are not waited for.
    fn read_own<T>(
        &self,
        read: impl Fn(&dyn Store) -> TaskerResult<Option<T>>,
    ) -> TaskerResult<Option<T>> {
        if let Some(found) = read(self.store.as_ref())? {
            return Ok(Some(found));
        }
        if self.is_stopped() || !self.orchestrator.connected() {
            return Ok(None);
        }
        // Only the ordering matters here; a failure it reports belongs to whoever flushes
        // for their own writes, and a failed creation simply leaves no task to find.
        let _ = self.flush(READ_OWN_WRITES_TIMEOUT);
        read(self.store.as_ref())
    }

    /// A task's step graph with each step's state, readiness and last run time, read from
    /// the store now (for `tasker-graph`'s analyses and pictures).
    pub fn task_graph(&self, task_id: TaskId) -> TaskerResult<Option<crate::TaskGraph>> {
        self.task(task_id)?
            .map(|view| crate::TaskGraph::from_view(&view, Timestamp::now()))
            .transpose()
    }

    /// Waits until the task reaches a state where the engine stops driving it (complete,
    /// error, cancelled, resolved_manually) and returns that state.
    pub fn wait_for_task(
        &self,
        task_id: TaskId,
        timeout: Duration,
        interrupt: &Interrupt,
    ) -> TaskerResult<Result<State, WaitEnd>> {
        let deadline = Instant::now() + timeout;
        // The task's creation may still be on its way to the store.
        self.read_own(|store| store.task_state(task_id))?;
        loop {
            let seen = self.finished.generation();
            match self.store.task_state(task_id)? {
                None => {
                    return Err(TaskerError::validation(
                        format!("task {task_id}"),
                        "no such task in this engine's store",
                    ));
                }
                Some(
                    s @ (State::Complete
                    | State::Error
                    | State::Cancelled
                    | State::ResolvedManually),
                ) => return Ok(Ok(s)),
                Some(_) => {}
            }
            if interrupt.is_set() {
                return Ok(Err(WaitEnd::Interrupted));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Err(WaitEnd::TimedOut));
            }
            if *self.stopping.read() {
                return Err(TaskerError::Orchestration(format!(
                    "task {task_id}: the engine stopped before the task finished"
                )));
            }
            self.finished
                .wait_past(seen, (deadline - now).min(Duration::from_millis(100)));
        }
    }

    /// Wakes every thread in `wait_for_task` so it can notice an interrupt.
    pub fn wake_waiters(&self) {
        self.finished.notify();
    }

    /// Counters, for `engine.stats`.
    /// Latency histograms of the engine's operations; the binding records the calls that
    /// cross from Ruby into them.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Tasks and steps by state now (O(1): counters moved by every committed batch).
    pub fn health(&self) -> HealthCounts {
        self.health.counts()
    }

    /// Health counts as the store holds them (a query; exact, and includes the
    /// PostgreSQL connection counts and the time-based backoff count).
    pub fn stored_health(&self) -> TaskerResult<StoredHealth> {
        self.store.health_counts(Timestamp::now())
    }

    /// Throughput and outcomes since `since` (a query).
    pub fn analytics_metrics(&self, since: Timestamp) -> TaskerResult<AnalyticsMetrics> {
        self.store.analytics_metrics(since, Timestamp::now())
    }

    /// The slowest finished steps `query` selects (a query).
    pub fn slowest_steps(&self, query: &SlowQuery) -> TaskerResult<Vec<SlowestStep>> {
        self.store.slowest_steps(query)
    }

    /// Finished steps grouped by namespace, task and step name, slowest average first.
    pub fn slowest_step_groups(&self, query: &SlowQuery) -> TaskerResult<Vec<SlowestStepGroup>> {
        self.store.slowest_step_groups(query)
    }

    /// The slowest finished tasks `query` selects (a query).
    pub fn slowest_tasks(&self, query: &SlowQuery) -> TaskerResult<Vec<SlowestTask>> {
        self.store.slowest_tasks(query)
    }

    /// Steps handed to workers and not yet reported.
    pub fn steps_in_flight(&self) -> usize {
        self.inflight.len()
    }

    /// Adds `slots` to the number of steps the pools can run at once (a pool calls this
    /// when it starts, and with a negative number when it stops).
    pub fn add_capacity(&self, slots: isize) {
        if slots >= 0 {
            self.capacity.fetch_add(slots as usize, Ordering::Relaxed);
        } else {
            let _ = self
                .capacity
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                    Some(c.saturating_sub(slots.unsigned_abs()))
                });
        }
    }

    /// Steps the running pools can run at once.
    pub fn capacity(&self) -> usize {
        self.capacity.load(Ordering::Relaxed)
    }

    /// Every latency histogram: the engine's operations, then the store's commits.
    pub fn latency(&self) -> Vec<(&'static str, HistogramSnapshot)> {
        let mut all = self.metrics.snapshot();
        all.push(("store_commit", self.state_stats.commit_latency.snapshot()));
        all
    }

    /// Steps completed in the last full second (sampled by the orchestrator each second).
    pub fn steps_per_second(&self) -> u64 {
        self.metrics.steps_last_second.load(Ordering::Relaxed)
    }

    /// Seconds since this engine started.
    pub fn uptime(&self) -> Duration {
        self.started_at.elapsed()
    }

    /// Every counter, gauge and histogram in the Prometheus text format.
    pub fn metrics_text(&self) -> String {
        crate::metrics::prometheus_text(
            &self.stats(),
            &GAUGES,
            &self.latency(),
            &[
                ("steps_per_second", self.steps_per_second() as f64),
                ("uptime_seconds", self.uptime().as_secs_f64()),
            ],
        )
    }

    pub fn stats(&self) -> Vec<(&'static str, u64)> {
        let mut s = self.stats.snapshot();
        s.push(("steps_in_flight", self.inflight.len() as u64));
        s.push(("steps_queued", self.work[0].len() as u64));
        s.push(("steps_queued_for_ractors", self.work[1].len() as u64));
        s.push((
            "store_batches",
            self.state_stats.batches.load(Ordering::Relaxed),
        ));
        s.push((
            "store_changes",
            self.state_stats.changes.load(Ordering::Relaxed),
        ));
        s.push((
            "store_failed_batches",
            self.state_stats.failed_batches.load(Ordering::Relaxed),
        ));
        s.push((
            "event_subscribers",
            self.event_interest.subscribers() as u64,
        ));
        s
    }

    /// The last error the store reported, if any.
    pub fn last_store_error(&self) -> Option<TaskerError> {
        self.state_stats.last_error.lock().clone()
    }

    /// The configuration the engine runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Whether `stop` has begun.
    pub fn is_stopped(&self) -> bool {
        *self.stopping.read()
    }

    /// Stops the engine (see the crate docs, "Shutdown"). Returns how many steps were taken
    /// back. Calling it again returns 0.
    pub fn stop(&self, timeout: Duration) -> TaskerResult<usize> {
        if self.forked() {
            // The parent's engine: its threads are not in this process. Leave it be.
            return Ok(0);
        }
        {
            let mut stopping = self.stopping.write();
            if *stopping {
                return Ok(0);
            }
            *stopping = true;
        }
        drop(self.stop_sender.lock().take());
        let deadline = Instant::now() + timeout;
        let remaining = || deadline.saturating_duration_since(Instant::now());
        let mut result = Ok(0);
        if self.orchestrator.connected() {
            let (tx, rx) = bounded(1);
            self.orchestrator.do_send(Shutdown(tx));
            result = await_reply(&rx, remaining(), "stop (take back steps)");
            let (tx, rx) = bounded(1);
            self.state.do_send(Flush { reply: tx });
            if let Err(e) = await_reply(&rx, remaining(), "stop (flush store)").and_then(|r| r) {
                result = Err(e);
            }
        }
        if let Some(running) = self.running.lock().take() {
            running.system.stop();
            if running.thread.join().is_err() {
                result = Err(TaskerError::Orchestration(
                    "the engine thread panicked".into(),
                ));
            }
        }
        self.finished.notify();
        result
    }
}

impl Engine {
    /// Stops the engine (if running) and closes its store, releasing database connections
    /// and claims. After `stop` alone the store stays open so the engine's tasks can still
    /// be read; after `close` reads fail.
    pub fn close(&self, timeout: Duration) -> TaskerResult<usize> {
        if self.forked() {
            // Inherited across a fork: the store's threads are not in this process, so it
            // cannot be shut down here (see `Drop`).
            return Ok(0);
        }
        let taken_back = self.stop(timeout);
        self.store.close();
        taken_back
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if self.forked() {
            // Inherited across a fork: the System thread and the store's threads do not
            // exist here, so neither can be joined or shut down. Leak them.
            std::mem::forget(self.running.lock().take());
            let store = std::mem::replace(&mut self.store, Arc::new(MemoryStore::new()));
            std::mem::forget(store);
            return;
        }
        let _ = self.stop(Duration::from_secs(5));
    }
}

/// (handler class, "source (task key), step 'name'") of every `execution: ractor` step.
fn ractor_steps(compiled: &[Arc<RegisteredTemplate>]) -> Vec<(String, String)> {
    compiled
        .iter()
        .flat_map(|t| {
            t.executions
                .iter()
                .enumerate()
                .filter(|(_, e)| **e == Execution::Ractor)
                .map(move |(i, _)| {
                    let step = &t.template.step_templates[i];
                    (
                        step.handler_class.clone(),
                        format!(
                            "{} (task {}), step '{}'",
                            t.template.source, t.key, step.name
                        ),
                    )
                })
        })
        .collect()
}

/// How many of `queued` steps one drain takes, at most `max`: with other drains idle, only
/// its share, so a burst of slow steps spreads over every worker instead of queueing behind
/// one; with none idle, as many as allowed, so a busy pool crosses the boundary rarely.
fn fair_share(queued: usize, max: usize, idle_others: usize) -> usize {
    (queued / (idle_others + 1)).clamp(1, max.max(1))
}

/// Waits for the first item (or a stop or an interrupt), then takes its fair share of what
/// else is queued, up to `max` in all.
fn wait_batch<T>(
    rx: &Receiver<T>,
    stop: &Receiver<()>,
    max: usize,
    timeout: Duration,
    interrupt: &Interrupt,
    idle_drains: &AtomicUsize,
) -> Result<Vec<T>, WaitEnd> {
    let max = max.max(1);
    let take = fair_share(rx.len(), max, idle_drains.load(Ordering::Relaxed));
    let mut out: Vec<T> = rx.try_iter().take(take).collect();
    if !out.is_empty() {
        return Ok(out);
    }
    if interrupt.is_set() {
        return Err(WaitEnd::Interrupted);
    }
    idle_drains.fetch_add(1, Ordering::Relaxed);
    let _idle = scopeguard(|| {
        idle_drains.fetch_sub(1, Ordering::Relaxed);
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
    let extra = fair_share(rx.len(), max, idle_drains.load(Ordering::Relaxed)).min(rx.len());
    out.extend(rx.try_iter().take(extra.min(max - 1)));
    Ok(out)
}

/// A JSON value's kind and, for short scalars, the value, for error messages.
fn json_kind(value: &Json) -> String {
    match value {
        Json::Array(_) => "an Array".into(),
        Json::String(s) if s.len() <= 40 => format!("a String ({s:?})"),
        Json::String(_) => "a String".into(),
        other => format!("{other}"),
    }
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
