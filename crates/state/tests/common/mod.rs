//! What the two test support modules (`conformance/`, for the stores, and `support/`, for
//! the migrations) share, included by path into each: the test server's URL, the Tasker
//! tables' names, names no other run uses, and the temporary SQLite file. Must not know
//! about stores or migrations.

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::ConnectOptions;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// How long a test waits for the server before calling it unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `TASKER_TEST_DATABASE_URL`, or the local server's `test` database.
pub fn pg_url() -> String {
    std::env::var("TASKER_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_string())
}

/// Every table the migrations create (TASKER.md, "Database").
pub const TABLES: [&str; 10] = [
    "tasker_task_namespaces",
    "tasker_dependent_systems",
    "tasker_named_tasks",
    "tasker_named_steps",
    "tasker_named_tasks_named_steps",
    "tasker_tasks",
    "tasker_workflow_steps",
    "tasker_workflow_step_edges",
    "tasker_task_transitions",
    "tasker_workflow_step_transitions",
];

/// A name no other run is using: the process id and the clock, plus a tag; lower case, so
/// that it is the same quoted in SQL or not.
pub fn unique_name(prefix: &str, tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{nanos}_{tag}", std::process::id()).to_lowercase()
}

/// A SQLite database file in the temp dir, deleted (with its journal files) when dropped.
pub struct SqliteFile {
    pub path: PathBuf,
}

impl SqliteFile {
    /// A path no other run is using; the file itself is created by its first connection.
    pub fn new(tag: &str) -> SqliteFile {
        let path =
            std::env::temp_dir().join(format!("{}.sqlite3", unique_name("tasker_core", tag)));
        SqliteFile { path }
    }

    /// The file's URL, for a store.
    pub fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }

    /// Opens the file read only, to look at what a store wrote without taking part.
    pub async fn connect_read_only(&self) -> Result<SqliteConnection, sqlx::Error> {
        SqliteConnectOptions::new()
            .filename(&self.path)
            .read_only(true)
            .connect()
            .await
    }

    /// Opens (creating if missing) the file, foreign keys on.
    pub async fn connect(&self) -> Result<SqliteConnection, sqlx::Error> {
        SqliteConnectOptions::new()
            .filename(&self.path)
            .create_if_missing(true)
            .foreign_keys(true)
            .connect()
            .await
    }
}

impl Drop for SqliteFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}
