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
//! | `claim_tasks` | grants everything | a claims table with fencing tokens; a process table with heartbeats (`postgres/claims.rs`) |
//! | set-based writes | `jsonb_each(?)` | `UNNEST($1::bigint[], …)` |
//!
//! One body, two databases: `store.rs` holds the [`Store`] methods' logic once (applying a
//! batch with its checks and retry, registering templates, reading tasks and insights), over
//! a `Dialect` (`dialect.rs`) that each database implements with only what it does its own
//! way: SQL text, binding and timestamps, the set-based write, ids, claims, migrations.
//! Threads and shutdown: `runtime.rs`.
//!
//! # Layout
//! - [`open_store`]: picks a store from a `database_url`.
//! - `store`: `SqlStore`, the shared body (`store_sharing`: its claims, process table, cap
//!   slots and pauses); `delegate`: `delegate_store!`, the public stores' `Store` impl.
//! - `dialect`: the `Dialect` trait, `Param` (a bound value), `ReadRow` (a row read by
//!   position), `Statements` (a database's SQL text for the shared body).
//! - `plan`: the cache of history heads, the plan of set-based writes, the retry when the
//!   cache was stale. `check`: the batch checks (MemoryStore's, same errors) producing the
//!   plan. `duplicates`: identified tasks another process stored first, dropped from a
//!   batch the unique index refused.
//! - `read`: a task's rows and the history heads, read and decoded. `register`: the named
//!   rows `register_template` finds or creates. `insights`: the insights from rows;
//!   `insights_sql`: the insights SQL both databases share to the letter.
//! - `sqlite`: [`SqliteStore`] (opening, migrations, `ids`, `sql` text, `insights`
//!   statements, the `write` script).
//! - `postgres`: [`PostgresStore`] (connecting, migrations, sequences, `claims` and `here`
//!   (leases, fencing, the process table), `sql` text,
//!   `insights` statements, the one-statement `write` built by `statement`).
//! - `retention`: `purge_finished`, one batch of expired finished tasks deleted (the SQL
//!   text in `sqlite/retention.rs` and `postgres/retention.rs`).
//! - `templates`: what `register_template` writes and the ids it caches.
//! - `view`: a [`TaskView`](crate::TaskView) assembled from rows; step order.
//! - `runtime`: the tokio runtime each store owns.
//! - `codec`: timestamps, JSON, states and errors between Rust and SQL.

mod check;
mod codec;
mod delegate;
mod dialect;
mod duplicates;
mod insights;
mod insights_sql;
mod listing;
mod plan;
mod postgres;
mod read;
mod reconnect;
mod register;
mod retention;
mod runtime;
mod sqlite;
mod store;
mod store_sharing;
mod templates;
mod view;

pub use codec::redact_url;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use crate::memory::MemoryStore;
use crate::sharing::{Role, Sharing};
use crate::store::Store;
use std::sync::Arc;
use tasker_model::{TaskerError, TaskerResult};

/// Opens the store `database_url` names: `memory:` (a [`MemoryStore`]: nothing survives the
/// process), `sqlite://path` (or `sqlite:path`), `sqlite::memory:`, `postgres://…` or
/// `postgresql://…`. Opening a SQL store creates the Tasker tables where they do not exist
/// and uses them as they are where they do.
///
/// Anything else is a [`TaskerError::Validation`] naming the URL (its password redacted).
pub fn open_store(database_url: &str) -> TaskerResult<Arc<dyn Store>> {
    open_store_with(database_url, Sharing::default())
}

/// Like [`open_store`], with how a shared (PostgreSQL) store takes part in sharing tasks;
/// a `client` role is refused for a store that serves one process only, since no other
/// engine could run its tasks.
pub fn open_store_with(database_url: &str, sharing: Sharing) -> TaskerResult<Arc<dyn Store>> {
    let is_postgres = {
        let url = database_url.trim().to_ascii_lowercase();
        (url.starts_with("postgres:") || url.starts_with("postgresql:")) && url.contains("://")
    };
    if sharing.role == Role::Client && !is_postgres {
        return Err(TaskerError::validation(
            format!("role client with database_url {}", redact_url(database_url)),
            "a client engine leaves its tasks to workers in other processes, which only a PostgreSQL database can share: use a postgres:// URL, or role worker",
        ));
    }
    if database_url == "memory:" {
        return Ok(Arc::new(MemoryStore::new()));
    }
    let url = database_url.trim();
    let scheme = url.split(':').next().unwrap_or("").to_ascii_lowercase();
    match scheme.as_str() {
        "sqlite" => Ok(Arc::new(SqliteStore::open(url)?)),
        "postgres" | "postgresql" if url.contains("://") => {
            Ok(Arc::new(PostgresStore::open_with(url, sharing)?))
        }
        _ => Err(TaskerError::validation(
            format!("database_url {}", redact_url(url)),
            "is not a store URL: use sqlite://path, sqlite::memory: or postgres://user@host/database",
        )),
    }
}
