//! Persistence of tasks, steps and their append-only transition history.
//!
//! This crate owns the Tasker records and how they are written; it must not decide what runs
//! (that is the resolver's and the orchestrator's job) and must not call Ruby. Writes arrive
//! as [`Change`] batches so a store can commit a batch in one transaction (group commit).
//!
//! # Layout
//! - [`records`]: the rows (task, step, transition) and the typed transition metadata.
//! - [`checks`]: the checks every store makes before writing, how a patch updates a step, and
//!   how two patches of one step fold into one.
//! - [`change`]: [`Change`], one write, and [`StepPatch`], the step fields it may set.
//! - [`store`]: the [`Store`] trait every backend implements, and [`TaskView`], a task read
//!   back with its steps and history.
//! - [`memory`]: [`MemoryStore`], the in-process store (tests, and engines that need no
//!   durability).
//! - [`sql`]: the durable stores on Tasker's tables, [`SqliteStore`] (embedded, the default)
//!   and [`PostgresStore`] (several engine processes on one database), one store body over a
//!   dialect per database; and [`open_store`], which picks a store from a `database_url`
//!   (`memory:` for a [`MemoryStore`]).
//! - [`insights`]: health counts, analytics over a period, the slowest steps and tasks
//!   ([`HealthCounts`], [`AnalyticsMetrics`], [`SlowestStep`], [`SlowestTask`]), answered by
//!   every store through the [`Store`] trait.
//! - [`sharing`]: [`Sharing`], how a store shares one database's tasks with other engines'
//!   processes (role, lease, heartbeat); only [`PostgresStore`] shares.
//! - [`listing`]: [`TaskFilter`] and [`TaskListing`], tasks listed for people a page at a
//!   time ([`Store::list_tasks`]).
//! - [`retention`]: [`Purged`], what deleting expired finished tasks removed, and which
//!   states expire ([`Store::purge_finished`]).
//! - [`actor`]: [`StateActor`], the actix actor that owns the store's writes, batches them,
//!   and wakes waiters once a batch is applied; [`finished_signal`]: [`TaskFinishedSignal`],
//!   how it wakes the threads waiting for tasks to finish.

pub(crate) mod actor;
pub(crate) mod change;
pub mod checks;
pub(crate) mod finished_signal;
pub mod insights;
pub mod listing;
pub(crate) mod memory;
pub(crate) mod records;
pub mod retention;
pub(crate) mod sharing;
pub mod sql;
pub(crate) mod store;
#[cfg(test)]
mod test_rows;

pub use actor::{
    AfterCommit, ApplyAcked, ApplyAlone, ApplyChanges, CommitObserver, CommitPending, Flush,
    LastStoreError, StateActor,
};
pub use change::{Change, NewTask, StepPatch};
pub use finished_signal::TaskFinishedSignal;
pub use insights::{
    AnalyticsMetrics, HealthCounts, SlowQuery, SlowestStep, SlowestStepGroup, SlowestTask,
};
pub use listing::{TaskFilter, TaskListing};
pub use memory::MemoryStore;
pub use records::{StepRecord, TaskRecord, TransitionMeta, TransitionRecord};
pub use retention::Purged;
pub use sharing::{ProcessInfo, Role, Sharing};
pub use sql::{open_store, open_store_with, PostgresStore, SqliteStore};
pub use store::{Commit, Durability, HealthDelivery, SharedPauses, StepView, Store, TaskView};
