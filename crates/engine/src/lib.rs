//! The running engine.
//!
//! This crate owns the engine's threads and the orchestration of live tasks: it wires the
//! state actor, the event bus and the orchestrator on an actix System that runs on threads
//! it spawns and joins. It must not call Ruby or block on anything Ruby does: work leaves on
//! crossbeam channels and results come back as messages.
//!
//! # Layout
//! - [`engine`]: [`Engine`], the `Sync` handle the binding wraps; `engine.rs` holds the
//!   struct and the fork check, and `engine/` its methods by role:
//!   - `boot`: [`EngineOptions`] and `start` (the System, its actors and threads).
//!   - `templates`: register, look up, handler classes' executions, Ractor steps, the
//!     tasks awaiting a template.
//!   - `submit`: [`SubmitRequest`], submit (plain or [`DurableSubmission`]), `start_task`,
//!     `recover` ([`RecoveryReport`]), `operate` (the manual operations).
//!   - `identified`: `submit_identified` ([`Submitted`]), idempotent submission.
//!   - `steps`: the worker's side of a step's life: **take** (`take_steps`,
//!     `take_steps_for`, `take_steps_waiting`, `take_steps_waiting_for`,
//!     `take_routed_waiting`), **report** (`complete_step`, `fail_step`), custom events.
//!   - `wait`: [`Interrupt`], [`WaitEnd`], `wait_for_task`, `flush`, `wake_waiters`.
//!   - `observe`: reading tasks, stats, metrics, health, insights, event subscriptions.
//!   - `retention`: [`RetentionSettings`], the thread deleting expired finished tasks,
//!     one-off purges, [`RetentionStats`].
//!   - `schedules`: [`ScheduleSpec`], recurring schedules (cron), the thread submitting
//!     each occurrence once by its identity, [`ScheduleStats`].
//!   - `shutdown`: `stop`, `close`, `Drop`, and the shutdown protocol that **hands back**
//!     the steps still out.
//! - `registry`: registered templates ([`RegisteredTemplate`], [`TemplateRegistry`]),
//!   compiled once, looked up on every submission.
//! - `work`: [`ReadyStep`], what a worker takes, [`StepFailure`], what it reports, and
//!   [`Routed`], what a task's route carries.
//! - `inflight`: the steps handed out and not yet reported, so a bad report is refused on
//!   the caller's thread.
//! - `live_task`: one running task's state and the rules for moving it (plain methods,
//!   unit-tested without actors): `dispatch` (hand out, start, retry, hand back),
//!   `reports` (complete, fail, finish), `operate` (the manual operations), `recovery`
//!   (a stored task brought back to life; steps a crash interrupted fail with
//!   `engine_restart`), `schedule` (a task's steps held until its `run_at`), `timeouts` (an
//!   attempt that ran past its step's timeout fails with [`TIMEOUT_ERROR_CLASS`]; the
//!   orchestrator's `deadlines` arms the timers).
//! - [`operations`]: the manual operations a caller may ask for ([`operations::Operation`]:
//!   reset a step for retry, mark it pending or completed, update its results; cancel,
//!   retry or resolve a task) and [`operations::Request`] (who asked and why).
//! - [`identity`]: [`Identity`] and [`IdentityStrategy`] (Tasker's identity strategies),
//!   the identity_hash they give, and the gate that admits one submission per identity.
//! - [`outcomes`]: [`TaskOutcome`] (a task's state and its steps' outcomes) and the
//!   bounded set of outcomes of tasks this engine finished, so a result read back right
//!   after its task ends costs no store round trip.
//! - `awaiting`: unfinished tasks found before their template was registered; the
//!   registration that brings the template resumes them.
//! - `orchestrator`: the actor that owns live tasks and applies the rules (`apply`: carrying
//!   out their effects; `stored`: tasks brought in from the store).
//! - `stored_graph`: [`StoredGraph`], a stored task as `tasker-graph`'s input (graph,
//!   states, readiness, durations), for analysis and pictures.
//! - [`gate`]: the dispatch gate between ready steps and the workers' queues: priority
//!   (with aging), concurrency limits ([`gate::Limits`]), pause and resume
//!   ([`gate::PauseKey`]); a fast path when it has nothing to hold.
//! - `fork`: the fork counter that keeps an engine inherited by a forked child unused, and
//!   [`ForkLocal`], which leaks what a forked child would otherwise drop of its parent's.
//!
//! # Shutdown
//! [`Engine::stop`] is a protocol, documented where it is carried out (`engine/shutdown.rs`):
//! quiet the orchestrator, hand back every step still out, flush the store, stop the
//! System and join every thread the engine started.

pub(crate) mod awaiting;
pub mod engine;
pub(crate) mod fork;
pub mod gate;
pub mod identity;
pub(crate) mod inflight;
pub(crate) mod live_task;
pub mod operations;
pub(crate) mod orchestrator;
pub mod outcomes;
pub(crate) mod registry;
pub(crate) mod stored_graph;
pub(crate) mod work;

pub use engine::{
    Deleted, DurableSubmission, Engine, EngineOptions, Interrupt, RecoveryReport,
    RetentionSettings, RetentionStats, ScheduleSpec, ScheduleStats, SubmitRequest, Submitted,
    WaitEnd,
};
pub use fork::ForkLocal;
pub use identity::{Identity, IdentityStrategy};
pub use inflight::AttemptId;
pub use live_task::TIMEOUT_ERROR_CLASS;
pub use outcomes::{StepOutcome, TaskOutcome};
pub use registry::{RegisteredTemplate, TemplateRegistry};
pub use stored_graph::StoredGraph;
pub use work::{ReadyStep, Routed, StepFailure};
