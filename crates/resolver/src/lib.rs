//! Dependency resolution: what may run, and when.
//!
//! This crate owns the step graph and Tasker's readiness rules and nothing else: it must not
//! hold task state over time, write anything, or know about actors, stores or Ruby. Callers
//! hand it plain snapshots and get plain answers, which keeps every rule unit-testable.
//!
//! # Layout
//! - `graph`: [`TemplateGraph`], a template compiled once into an immutable graph
//!   (petgraph for cycle detection and topological order; flat adjacency arrays for speed).
//! - `runtime`: [`RuntimeDag`], one task's remaining-parent counters, so a completion
//!   readies its children in O(out-degree).
//! - [`readiness`]: the full readiness evaluation (TASKER.md, "Readiness") over a task's step
//!   snapshots: the per-step rules (`readiness/rules.rs`), their application to whole tasks
//!   ([`readiness::evaluate_many`] spreads many tasks over rayon), and the task execution
//!   context derived from the answers (`readiness/context.rs`).

pub(crate) mod graph;
pub mod readiness;
pub(crate) mod runtime;

pub use graph::TemplateGraph;
pub use readiness::{ExecutionContext, StepReadiness, StepSnapshot};
pub use runtime::RuntimeDag;
