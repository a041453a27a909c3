//! The durable stores: Tasker's tables (TASKER.md, "Database") in SQLite or PostgreSQL.
//!
//! Both implement [`Store`] the same way; the differences are the SQL dialect, where ids
//! come from, and whether tasks can be claimed by one engine among several.
//!
//! | | [`SqliteStore`] | [`PostgresStore`] |
//! |---|---|---|
//! | URL | `sqlite://path`, `sqlite::memory:` | `postgres://…`, `postgresql://…` |
//! | processes | one per file | any number, on any machines |
//! | ids | counted in memory, reserved in blocks in `sqlite_sequence` | the tables' own sequences, prefetched in blocks |
//! | `claim_tasks` | grants everything | a claims table; one session advisory lock per store |
//! | set-based writes | `jsonb_each(?)` | `UNNEST($1::bigint[], …)` |
//!
//! How a batch is applied (both): `plan.rs`. Threads and shutdown: `runtime.rs`.
//!
//! # Layout
//! - [`open_store`]: picks a store from a `database_url`.
//! - `sqlite`: [`SqliteStore`]. `postgres`: [`PostgresStore`].
//! - `plan`: the batch checks (MemoryStore's, same errors) and the set-based write plan;
//!   the cache of history heads.
//! - `templates`: what `register_template` writes and the ids it caches.
//! - `view`: a [`TaskView`](crate::TaskView) assembled from rows; step order.
//! - `runtime`: the tokio runtime each store owns.
//! - `codec`: timestamps, JSON, states and errors between Rust and SQL.

mod codec;
mod plan;
mod postgres;
mod runtime;
mod sqlite;
mod templates;
mod view;

pub use codec::redact_url;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use crate::store::Store;
use std::sync::Arc;
use tasker_model::{TaskerError, TaskerResult};

/// Opens the store `database_url` names: `sqlite://path` (or `sqlite:path`),
/// `sqlite::memory:`, `postgres://…` or `postgresql://…`. Opening creates the Tasker tables
/// where they do not exist and uses them as they are where they do.
///
/// Anything else is a [`TaskerError::Validation`] naming the URL (its password redacted).
pub fn open_store(database_url: &str) -> TaskerResult<Arc<dyn Store>> {
    let url = database_url.trim();
    let scheme = url.split(':').next().unwrap_or("").to_ascii_lowercase();
    match scheme.as_str() {
        "sqlite" => Ok(Arc::new(SqliteStore::open(url)?)),
        "postgres" | "postgresql" if url.contains("://") => {
            Ok(Arc::new(PostgresStore::open(url)?))
        }
        _ => Err(TaskerError::validation(
            format!("database_url {}", redact_url(url)),
            "is not a store URL: use sqlite://path, sqlite::memory: or postgres://user@host/database",
        )),
    }
}
