//! Helpers for tests that run the migrations against real databases.
//!
//! - [`pg_connect`]: a PostgreSQL connection, or a clear verdict when the server is not there
//!   (a failure under CI, one loud skip line otherwise).
//! - [`PgSchema`]: a fresh schema for one test, with `search_path` pointing at it, dropped
//!   when the test ends, also when it panics. Tests never touch any other schema.
//! - [`SqliteFile`]: a SQLite database file in the temp dir, deleted when dropped.
//! - The migration texts, compiled in with `include_str!` so a test runs exactly the files.
//! - [`random_task`] and [`readiness_rows`]: the readiness cross-check's random tasks, and
//!   their rows in and out of PostgreSQL.

#![allow(dead_code)] // each test binary uses part of this module

#[path = "../common/mod.rs"]
mod common;
pub mod random_task;
pub mod readiness_rows;

use common::CONNECT_TIMEOUT;
pub use common::{pg_url, unique_name, SqliteFile, TABLES};

use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection};
use std::io::Write as _;

/// The Tasker tables on PostgreSQL.
pub const PG_TABLES: &str = include_str!("../../migrations/postgres/0001_tasker_tables.sql");
/// `tasker_core_step_readiness` on PostgreSQL.
pub const PG_STEP_READINESS: &str =
    include_str!("../../migrations/postgres/optional/step_readiness.sql");
/// The Tasker tables on SQLite.
pub const SQLITE_TABLES: &str = include_str!("../../migrations/sqlite/0001_tasker_tables.sql");

/// Connects to the test server. When it cannot: under CI (`CI` set) the test fails, since a
/// green run must mean the SQL was checked; elsewhere it prints one `SKIPPED:` line and
/// returns `None`, so `cargo test` still works on a machine without PostgreSQL.
pub async fn pg_connect(test: &str) -> Option<PgConnection> {
    let url = pg_url();
    let error = match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(&url)).await {
        Ok(Ok(conn)) => return Some(conn),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {CONNECT_TIMEOUT:?}"),
    };
    if std::env::var_os("CI").is_some() {
        panic!(
            "{test}: PostgreSQL unreachable at {url} ({error}); CI is set, so this is a failure: \
             start the server or point TASKER_TEST_DATABASE_URL at one"
        );
    }
    // Written to the process's stderr, not through eprintln!, which the test harness
    // captures and hides for a passing test: a skip must be seen.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: PostgreSQL unreachable at {url} ({error}); {test} did not run \
         (set TASKER_TEST_DATABASE_URL, or CI to make this a failure)"
    );
    None
}

/// A schema created for one test, the connection's `search_path` set to it.
///
/// Close it with [`PgSchema::close`]. If the test panics first, `Drop` drops the schema
/// from a fresh connection on a helper thread (the test's own connection may be mid-query).
pub struct PgSchema {
    /// The connection, `search_path` = this schema only.
    pub conn: PgConnection,
    /// The schema's name (lower-case letters, digits and `_`; safe to splice into SQL).
    pub name: String,
    closed: bool,
}

impl PgSchema {
    /// Creates the schema on `conn` and points `search_path` at it.
    pub async fn create(mut conn: PgConnection, tag: &str) -> Result<PgSchema, sqlx::Error> {
        let name = unique_name("tasker_core_test", tag);
        sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE SCHEMA \"{name}\"; SET search_path TO \"{name}\";"
        )))
        .execute(&mut conn)
        .await?;
        Ok(PgSchema {
            conn,
            name,
            closed: false,
        })
    }

    /// Runs a migration file (several statements) in this schema.
    pub async fn run_sql(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        sqlx::raw_sql(sql).execute(&mut self.conn).await.map(|_| ())
    }

    /// Drops the schema and everything in it.
    pub async fn close(mut self) -> Result<(), sqlx::Error> {
        sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP SCHEMA \"{}\" CASCADE",
            self.name
        )))
        .execute(&mut self.conn)
        .await?;
        self.closed = true;
        Ok(())
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        let name = self.name.clone();
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = PgConnection::connect(&pg_url()).await.ok()?;
                // The panicking test's connection is dropped after this runs and may still
                // hold locks in the schema; wait for it a while, not forever.
                sqlx::raw_sql(AssertSqlSafe(format!(
                    "SET lock_timeout = '20s'; DROP SCHEMA IF EXISTS \"{name}\" CASCADE;"
                )))
                .execute(&mut conn)
                .await
                .ok()
            })
        });
        if cleanup.join().ok().flatten().is_none() {
            eprintln!("could not drop test schema {}; drop it by hand", self.name);
        }
    }
}
