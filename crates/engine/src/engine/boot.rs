//! Starting an engine: the store, the shared counters, the actix System on a thread of its
//! own with the state actor, the event bus and the orchestrator, and the handle over them.
//!
//! It must not hand out work or wait on Ruby: it returns once the actors answer that they
//! are up. Stopping them is `shutdown.rs`'s job.
//!
//! Nor does it wait for the store's health counts (a full scan: 0.9 s at 1,000,000 steps).
//! The event bus's arbiter reads them after start and seeds the live counters with them
//! ([`LiveHealth::seed`]); until then the state actor's store ([`SeedGate`]) holds commits
//! back, so the scan never sees a change the counters also count. A submission is taken
//! at once meanwhile; only its commit waits, at most the scan.

use super::wait::await_reply;
use super::{Engine, Running};
use crate::awaiting::AwaitingTemplates;
use crate::inflight::Inflight;
use crate::orchestrator::{Orchestrator, OrchestratorLinks};
use crate::outcomes::Outcomes;
use crate::registry::TemplateRegistry;
use actix::prelude::*;
use crossbeam_channel::{bounded, unbounded};
use parking_lot::{Mutex, RwLock};
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};
use tasker_event_bus::{EventBus, Interest};
use tasker_insights::{HealthObserver, LiveHealth};
use tasker_metrics::Metrics;
use tasker_model::{
    EngineConfig, StepId, TaskId, TaskTemplate, TaskerError, TaskerResult, Timestamp,
};
use tasker_state::{
    AnalyticsMetrics, Change, Commit, HealthCounts, LastStoreError, MemoryStore, SlowQuery,
    SlowestStep, SlowestStepGroup, SlowestTask, StateActor, Store, TaskFinishedSignal, TaskView,
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

impl Engine {
    /// Starts an engine: spawns its System thread and two arbiter threads (state, events).
    pub fn start(options: EngineOptions) -> TaskerResult<Engine> {
        let store: Arc<dyn Store> = options
            .store
            .unwrap_or_else(|| Arc::new(MemoryStore::new()));
        let inflight = Arc::new(Inflight::default());
        let metrics = Arc::new(Metrics::default());
        // Live counts start from what the store holds (tasks of earlier runs), read after
        // start (see the module documentation), and move with every batch this engine
        // commits from here on.
        let health = Arc::new(LiveHealth::awaiting_seed());
        let gate = Arc::new(Gate::default());
        let gated: Arc<dyn Store> = Arc::new(SeedGate {
            store: store.clone(),
            gate: gate.clone(),
        });
        let last_store_error = Arc::new(LastStoreError::default());
        let finished = Arc::new(TaskFinishedSignal::default());
        let outcomes = Arc::new(Outcomes::new(finished.clone()));
        let event_interest = Arc::new(Interest::default());
        let queues = [unbounded(), unbounded()];
        let receivers = [queues[0].1.clone(), queues[1].1.clone()];

        let (ready_tx, ready_rx) = bounded(1);
        let thread = {
            let seed_store = store.clone();
            let store = gated;
            let inflight = inflight.clone();
            let metrics = metrics.clone();
            let health = health.clone();
            let last_store_error = last_store_error.clone();
            let finished = finished.clone();
            let outcomes = outcomes.clone();
            let event_interest = event_interest.clone();
            let backoff_scale = options.config.backoff_scale;
            let (max_batch, commit_interval) = (options.max_batch, options.commit_interval);
            std::thread::Builder::new()
                .name("tasker-engine".into())
                .spawn(move || {
                    let system = System::new();
                    let state_arbiter = Arbiter::new();
                    let events_arbiter = Arbiter::new();
                    {
                        // On the event bus's thread, before the bus starts: no extra thread,
                        // and the bus has nothing to announce until commits, which wait for
                        // the seed anyway.
                        let (health, last_store_error) = (health.clone(), last_store_error.clone());
                        events_arbiter.spawn_fn(move || {
                            seed(&*seed_store, &health, &last_store_error);
                            gate.open();
                        });
                    }
                    system.block_on(async {
                        let state_metrics = metrics.clone();
                        let state =
                            StateActor::start_in_arbiter(&state_arbiter.handle(), move |_| {
                                StateActor::new(
                                    store,
                                    max_batch,
                                    commit_interval,
                                    finished,
                                    state_metrics,
                                    last_store_error,
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
                            metrics,
                            outcomes,
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
            outcomes,
            stopping: RwLock::new(false),
            running: Mutex::new(Some(Running { system, thread })),
            metrics,
            health,
            capacity: AtomicUsize::new(0),
            started_at: Instant::now(),
            handler_executions: RwLock::default(),
            last_store_error,
            config: options.config,
            environment: options.environment,
            idle_takers: [AtomicUsize::new(0), AtomicUsize::new(0)],
            born: (crate::fork::generation(), std::process::id()),
            stop_sender: Mutex::new(Some(stop_sender)),
            stop_receiver,
            awaiting: AwaitingTemplates::default(),
        })
    }
}

/// Reads the store's health counts into `health` (see the module documentation). A store
/// that cannot count leaves this engine's own changes counted, and says why where store
/// errors are reported.
fn seed(store: &dyn Store, health: &LiveHealth, last_store_error: &LastStoreError) {
    match store.health_counts(Timestamp::now()) {
        Ok(counts) => health.seed(Some(&counts)),
        Err(e) => {
            eprintln!(
                "tasker-core: could not count the tasks stored in {} at start ({e}); health counts only this engine's changes",
                store.describe()
            );
            *last_store_error.lock() = Some(e);
            health.seed(None);
        }
    }
}

/// Shut until the live counters are seeded; then every wait on it returns at once.
#[derive(Default)]
struct Gate {
    open: AtomicBool,
    waiting: parking_lot::Mutex<Vec<Waker>>,
}

impl Gate {
    fn open(&self) {
        self.open.store(true, Ordering::Release);
        // Under the lock, so a waiter that found the gate shut has registered its waker.
        for waker in self.waiting.lock().drain(..) {
            waker.wake();
        }
    }

    fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    async fn wait(&self) {
        poll_fn(|cx| {
            if self.is_open() {
                return Poll::Ready(());
            }
            let mut waiting = self.waiting.lock();
            if self.is_open() {
                return Poll::Ready(());
            }
            waiting.push(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

/// The state actor's view of the store: commits wait for the [`Gate`]; everything else
/// goes straight through.
struct SeedGate {
    store: Arc<dyn Store>,
    gate: Arc<Gate>,
}

impl Store for SeedGate {
    fn apply(&self, batch: Vec<Change>) -> Commit {
        if self.gate.is_open() {
            return self.store.apply(batch);
        }
        let (store, gate) = (self.store.clone(), self.gate.clone());
        Box::pin(async move {
            gate.wait().await;
            store.apply(batch).await
        })
    }

    fn register_template(&self, template: &TaskTemplate) -> TaskerResult<()> {
        self.store.register_template(template)
    }

    fn allocate_ids(&self, steps: u32) -> TaskerResult<(TaskId, Vec<StepId>)> {
        self.store.allocate_ids(steps)
    }

    fn task(&self, id: TaskId) -> TaskerResult<Option<TaskView>> {
        self.store.task(id)
    }

    fn task_state(&self, id: TaskId) -> TaskerResult<Option<tasker_model::State>> {
        self.store.task_state(id)
    }

    fn unfinished_tasks(&self) -> TaskerResult<Vec<TaskId>> {
        self.store.unfinished_tasks()
    }

    fn health_counts(&self, now: Timestamp) -> TaskerResult<HealthCounts> {
        self.store.health_counts(now)
    }

    fn analytics_metrics(
        &self,
        since: Timestamp,
        now: Timestamp,
    ) -> TaskerResult<AnalyticsMetrics> {
        self.store.analytics_metrics(since, now)
    }

    fn slowest_steps(&self, query: &SlowQuery) -> TaskerResult<Vec<SlowestStep>> {
        self.store.slowest_steps(query)
    }

    fn slowest_step_groups(&self, query: &SlowQuery) -> TaskerResult<Vec<SlowestStepGroup>> {
        self.store.slowest_step_groups(query)
    }

    fn slowest_tasks(&self, query: &SlowQuery) -> TaskerResult<Vec<SlowestTask>> {
        self.store.slowest_tasks(query)
    }

    fn claim_tasks(&self, ids: &[TaskId]) -> TaskerResult<Vec<TaskId>> {
        self.store.claim_tasks(ids)
    }

    fn close(&self) {
        self.store.close()
    }

    fn describe(&self) -> String {
        self.store.describe()
    }
}
