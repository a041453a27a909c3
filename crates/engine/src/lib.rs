//! The running engine.
//!
//! This crate owns the engine's threads and the orchestration of live tasks: it wires the
//! state actor, the event bus and the orchestrator on an actix System that runs on threads
//! it spawns and joins. It must not call Ruby or block on anything Ruby does: work leaves on
//! crossbeam channels and results come back as messages.
//!
//! # Layout
//! - [`engine`]: [`Engine`], the `Sync` handle the binding wraps: start, register, submit,
//!   drain, complete, fail, wait, stop.
//! - [`registry`]: registered templates, compiled once, looked up on every submission.
//! - [`work`]: [`ReadyStep`], what a worker receives, and [`StepFailure`], what it reports.
//! - [`inflight`]: the steps handed out and not yet reported, so a bad report is refused on
//!   the caller's thread.
//! - [`live_task`]: one running task's state and the rules for moving it (plain methods,
//!   unit-tested without actors).
//! - [`awaiting`]: unfinished tasks found before their template was registered; the
//!   registration that brings the template resumes them.
//! - [`recovery`]: a stored task brought back to life (after a restart, or for a manual
//!   operation); steps interrupted by a crash are failed with `engine_restart`.
//! - [`manual`]: the safe manual operations (reset a step for retry, mark it pending or
//!   completed, update its results; cancel, retry or resolve a task).
//! - [`orchestrator`]: the actor that owns live tasks and applies those rules.
//! - [`stats`]: counters shared between the actors and the handle.
//! - [`metrics`]: latency histograms of the engine's operations and their Prometheus text.
//! - [`graph_view`]: a stored task as `tasker-graph`'s input (graph, states, readiness,
//!   durations), for analysis and pictures.
//!
//! # Shutdown
//! [`Engine::stop`] is a protocol: the orchestrator stops dispatching, takes back every step
//! still queued (it returns to pending, `in_process` cleared), marks steps that a worker
//! started but did not finish as `error` with reason `engine_stopped` (so they run again,
//! at least once), hands its last changes to the state actor, and answers. The handle then
//! flushes the state actor, stops the System, and joins every thread it started.

pub(crate) mod awaiting;
pub mod engine;
pub(crate) mod fork;
pub(crate) mod inflight;
pub(crate) mod live_task;
pub mod metrics;
pub mod operations;
pub(crate) mod orchestrator;
pub(crate) mod registry;
pub mod stats;
pub(crate) mod stored_graph;
pub(crate) mod work;

pub use engine::{
    DurableSubmission, Engine, EngineOptions, Interrupt, RecoveryReport, SubmitRequest, WaitEnd,
};
pub use registry::{RegisteredTemplate, TemplateRegistry};
pub use stored_graph::StoredGraph;
pub use work::{ReadyStep, Routed, StepFailure};
