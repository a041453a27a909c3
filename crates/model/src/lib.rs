//! The shared vocabulary of tasker-core.
//!
//! Every other crate speaks in these types, so this crate owns only plain data and pure
//! functions: it must not spawn threads, touch a database, or know about actors or Ruby.
//!
//! # Layout
//! - `ids`: task and step identifiers and the UTC timestamp type.
//! - [`state`]: the six Tasker states and the task and step transition tables.
//! - [`template`]: the Tasker YAML task-template format: the types (`template/mod.rs`),
//!   parsing (`parse`), the graph-free checks (`validate`), per-environment overrides
//!   (`environment`) and loading a directory of templates (`load`).
//! - `schema`: the JSON Schema a task's context must satisfy at submission.
//! - [`retry`]: the engine-side retry backoff (TASKER.md "Retry backoff").
//! - `config`: engine configuration knobs shared by the engine and the binding.
//! - `error`: [`TaskerError`], the one error type that crosses crate boundaries; the binding
//!   maps each variant to a `TaskerCore::…Error` class.

pub(crate) mod config;
pub(crate) mod error;
pub(crate) mod ids;
pub mod retry;
pub(crate) mod schema;
pub mod state;
pub mod template;

pub use config::EngineConfig;
pub use error::{TaskerError, TaskerResult};
pub use ids::{StepId, TaskId, Timestamp};
pub use state::State;
pub use template::{Execution, StepTemplate, TaskTemplate, TemplateKey};
