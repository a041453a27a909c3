//! Starting an engine: the store, the shared counters, the actix System on a thread of its
//! own with the state actor, the event bus and the orchestrator, and the handle over them.
//!
//! It must not hand out work or wait on Ruby: it returns once the actors answer that they
//! are up. Stopping them is `shutdown.rs`'s job.
//!
//! Nor does it wait for the store's health counts: they are a full scan (seconds at
//! millions of rows). The store pins a read snapshot here, before the state actor exists,
//! and counts in it on its own threads ([`Store::count_health_in_background`]); the live
//! counters take the counts when they arrive ([`LiveHealth::seed`]) on top of what this
//! engine committed meanwhile, which the snapshot cannot contain. No commit waits for the
//! scan; a health reading taken before it ends does.

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
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::time::{Duration, Instant};
use tasker_event_bus::{EventBus, Interest};
use tasker_insights::{HealthObserver, LiveHealth};
use tasker_metrics::Metrics;
use tasker_model::{EngineConfig, TaskerError, TaskerResult, Timestamp};
use tasker_state::{LastStoreError, MemoryStore, StateActor, Store, TaskFinishedSignal};

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
    /// Concurrency caps the dispatch gate enforces (none by default).
    pub limits: crate::gate::Limits,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            config: EngineConfig::default(),
            store: None,
            commit_interval: Duration::ZERO,
            max_batch: 1024,
            environment: None,
            limits: Default::default(),
        }
    }
}

/// Like `Actor::start_in_arbiter`, with the actor's task wrapped in [`LetsGoOfItsTask`].
fn start_in_arbiter<A>(
    arbiter: &ArbiterHandle,
    make: impl FnOnce(&mut Context<A>) -> A + Send + 'static,
) -> Addr<A>
where
    A: Actor<Context = Context<A>>,
{
    let (tx, rx) = actix::dev::channel::channel(MAILBOX_CAPACITY);
    arbiter.spawn_fn(move || {
        let mut ctx = Context::with_receiver(rx);
        let actor = make(&mut ctx);
        actix_rt::spawn(LetsGoOfItsTask::new(ctx.into_future(actor)));
    });
    Addr::new(tx)
}

/// Like `Actor::start` (on the current arbiter), with the task wrapped in [`LetsGoOfItsTask`].
fn start_here<A>(actor: A) -> Addr<A>
where
    A: Actor<Context = Context<A>>,
{
    let ctx = Context::new();
    let addr = ctx.address();
    actix_rt::spawn(LetsGoOfItsTask::new(ctx.into_future(actor)));
    addr
}

/// actix's mailbox size (`actix::dev::DEFAULT_CAPACITY`), as `start_in_arbiter` uses it.
const MAILBOX_CAPACITY: usize = 16;

/// An actor's task, polled with a waker that reaches the task only until the task ends.
///
/// Why (issue 23): an actor's mailbox keeps the waker of the last poll that found it empty,
/// and the mailbox lives as long as any address does — the `Engine` keeps three until Ruby's
/// GC frees it. A tokio waker holds its task, and the task its runtime's driver: an epoll
/// descriptor, an eventfd and the timer wheel of the System's runtime and of each arbiter's,
/// three pairs of descriptors and their memory per closed engine, until a GC. The mailbox
/// gets this future's own waker instead, which forwards to the task's while the task runs;
/// when the task ends (the System stopped its runtime), `Drop` empties it, so what the
/// mailbox keeps is a few bytes and the runtime is freed with its thread.
struct LetsGoOfItsTask<F> {
    inner: F,
    slot: Arc<WakerSlot>,
    waker: Waker,
}

/// The running task's waker, while it runs.
#[derive(Default)]
struct WakerSlot(Mutex<Option<Waker>>);

impl Wake for WakerSlot {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let task = self.0.lock().clone();
        if let Some(task) = task {
            task.wake();
        }
    }
}

impl<F> LetsGoOfItsTask<F> {
    fn new(inner: F) -> Self {
        let slot = Arc::new(WakerSlot::default());
        LetsGoOfItsTask {
            inner,
            waker: Waker::from(slot.clone()),
            slot,
        }
    }
}

impl<F: Future<Output = ()> + Unpin> Future for LetsGoOfItsTask<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = self.get_mut();
        {
            let mut task = this.slot.0.lock();
            if !task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
                *task = Some(cx.waker().clone());
            }
        }
        Pin::new(&mut this.inner).poll(&mut TaskContext::from_waker(&this.waker))
    }
}

impl<F> Drop for LetsGoOfItsTask<F> {
    fn drop(&mut self) {
        self.slot.0.lock().take();
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
        // Live counts: what the store holds (tasks of earlier runs, counted off the start
        // path, see the module documentation) plus every batch this engine commits.
        let health = Arc::new(LiveHealth::awaiting_seed());
        let last_store_error = Arc::new(LastStoreError::default());
        store.count_health_in_background(Timestamp::now(), {
            let (health, last_store_error, describe) =
                (health.clone(), last_store_error.clone(), store.describe());
            Box::new(move |counts| match counts {
                Ok(counts) => health.seed(counts.as_ref()),
                Err(e) => {
                    tasker_metrics::log_warn!(
                        "tasker-core: could not count the tasks stored in {describe} at start ({e}); health counts only this engine's changes"
                    );
                    *last_store_error.lock() = Some(e);
                    health.seed(None);
                }
            })
        })?;
        let submit_only = store.leaves_new_tasks_unclaimed();
        let (task_ended_tx, task_ended) = bounded(1);
        let finished = Arc::new(TaskFinishedSignal::default());
        let outcomes = Arc::new(Outcomes::new(finished.clone()));
        let event_interest = Arc::new(Interest::default());
        let queues = [unbounded(), unbounded()];
        let receivers = [queues[0].1.clone(), queues[1].1.clone()];

        let (ready_tx, ready_rx) = bounded(1);
        let thread = {
            let store = store.clone();
            let inflight = inflight.clone();
            let metrics = metrics.clone();
            let health = health.clone();
            let last_store_error = last_store_error.clone();
            let finished = finished.clone();
            let outcomes = outcomes.clone();
            let event_interest = event_interest.clone();
            let backoff_scale = options.config.backoff_scale;
            let cap_store = store.shares_tasks().then(|| store.clone());
            let limits = options.limits;
            let step_timeout = options.config.step_timeout;
            let (max_batch, commit_interval) = (options.max_batch, options.commit_interval);
            std::thread::Builder::new()
                .name("tasker-engine".into())
                .spawn(move || {
                    let system = System::new();
                    let state_arbiter = Arbiter::new();
                    let events_arbiter = Arbiter::new();
                    system.block_on(async {
                        let state_metrics = metrics.clone();
                        let state = start_in_arbiter(&state_arbiter.handle(), move |_| {
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
                        let events = start_in_arbiter(&events_arbiter.handle(), move |_| {
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
                            submit_only,
                            task_ended: task_ended_tx,
                            limits,
                            step_timeout,
                            cap_store,
                        });
                        let orchestrator = start_here(orchestrator);
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
            registry: Arc::new(TemplateRegistry::default()),
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
            checked_input: Mutex::default(),
            last_store_error,
            config: options.config,
            environment: options.environment,
            idle_takers: [AtomicUsize::new(0), AtomicUsize::new(0)],
            born: (crate::fork::generation(), std::process::id()),
            stop_sender: Mutex::new(Some(stop_sender)),
            stop_receiver,
            awaiting: Arc::new(AwaitingTemplates::default()),
            submit_only,
            identities: Default::default(),
            task_ended,
            claiming: Mutex::new(None),
            pause_reads: Default::default(),
            retention: Default::default(),
            schedules: Default::default(),
        })
    }
}
