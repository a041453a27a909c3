//! [`Engine`]: the handle to a running engine, and the check that it is used in the
//! process that started it.
//!
//! Every method is safe to call from any thread. Calls that change something send a message
//! and return; only the `…_waiting` takes, `wait_for_task`, `flush` and `stop` wait, each
//! with a timeout (and an [`Interrupt`] where a worker or Ruby thread waits) so the binding
//! can release the GVL and still be interrupted.
//!
//! The handle's methods are grouped by role, one `impl Engine` per file below `engine/`;
//! this file holds only the struct (every field documented in one place) and the fork
//! check. Role files import from each other one way only: `wait` (the reply wait every role
//! uses) imports none of them.

mod background;
mod boot;
mod claiming;
mod identified;
mod observe;
mod pause_reads;
mod pausing;
mod retention;
mod schedules;
mod shutdown;
mod steps;
mod submit;
mod templates;
mod wait;

pub use boot::EngineOptions;
pub use claiming::ClaimSettings;
pub use identified::Submitted;
pub use retention::{Deleted, RetentionSettings, RetentionStats};
pub use schedules::{Schedule, ScheduleSpec, ScheduleStats};
pub use submit::{DurableSubmission, RecoveryReport, SubmitRequest};
pub use wait::{Interrupt, WaitEnd};

use crate::awaiting::AwaitingTemplates;
use crate::inflight::Inflight;
use crate::orchestrator::Orchestrator;
use crate::outcomes::Outcomes;
use crate::registry::TemplateRegistry;
use crate::work::ReadyStep;
use actix::prelude::*;
use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Mutex, RwLock};
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;
use tasker_event_bus::{EventBus, Interest};
use tasker_insights::LiveHealth;
use tasker_metrics::Metrics;
use tasker_model::EngineConfig;
use tasker_state::{LastStoreError, StateActor, Store, TaskFinishedSignal};

/// The actor addresses and thread of a running System.
struct Running {
    system: System,
    thread: JoinHandle<()>,
}

/// See the module documentation.
pub struct Engine {
    registry: Arc<TemplateRegistry>,
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
    /// Outcomes of the tasks this engine finished (committed), and the tasks it submitted
    /// and has not finished: results read back without the store.
    outcomes: Arc<Outcomes>,
    /// True once stopping began. Reports take it shared, `stop` exclusively, so no report
    /// can slip into the orchestrator's mailbox after the shutdown message.
    stopping: RwLock<bool>,
    running: Mutex<Option<Running>>,
    /// Every counter and latency histogram; the orchestrator, the state actor and the
    /// binding feed it.
    metrics: Arc<Metrics>,
    /// Tasks and steps by state, moved by each committed batch.
    health: Arc<LiveHealth>,
    /// Steps the worker and Ractor pools can run at once (they say so when they start).
    capacity: AtomicUsize,
    started_at: Instant,
    /// Handler class → where its steps run, as its Ruby class declares.
    handler_executions: RwLock<templates::DeclaredExecutions>,
    /// What the checks before a registration made of its YAML text or its path, kept until
    /// it is registered (`templates.rs`).
    checked_input: Mutex<Option<templates::Checked>>,
    /// The last error the store reported (the state actor sets it).
    last_store_error: Arc<LastStoreError>,
    config: EngineConfig,
    environment: Option<String>,
    /// Takers waiting for steps right now, per queue; a taker leaves them a fair share of
    /// what is queued.
    idle_takers: [AtomicUsize; 2],
    /// The fork count (`fork::generation`) and process id when the engine started.
    born: (u64, u32),
    /// Dropped by `stop`: every taker waiting on the receiver sees the disconnect at once.
    stop_sender: Mutex<Option<Sender<()>>>,
    stop_receiver: Receiver<()>,
    /// Claimed unfinished tasks whose template was not registered when `recover` ran.
    awaiting: Arc<AwaitingTemplates>,
    /// The store leaves this engine's new tasks to workers in other processes (a `client`):
    /// it does not drive them.
    submit_only: bool,
    /// Receives when a task of this engine ends, so claiming can refill (`claiming.rs`).
    task_ended: Receiver<()>,
    /// The thread claiming work from a shared store, once started.
    claiming: Mutex<Option<claiming::ClaimLoop>>,
    /// Reads of the shared pauses, applied one at a time (`pause_reads.rs`).
    pause_reads: Arc<pause_reads::PauseReads>,
    /// Deleting expired finished tasks: the thread, once started, and what it deleted.
    retention: retention::Retention,
    /// Recurring schedules: the thread submitting their occurrences, and its counts.
    schedules: schedules::Schedules,
    /// Identities being submitted by this engine's callers now (`identified.rs`).
    identities: crate::identity::IdentityGate,
}

impl Engine {
    /// Whether this process is a fork of the one that started the engine: the engine then
    /// cannot be used here (see `crate::fork`).
    pub fn forked(&self) -> bool {
        crate::fork::generation() != self.born.0
    }

    /// The process that started the engine.
    pub fn started_in_process(&self) -> u32 {
        self.born.1
    }
}
