//! WAL checkpoints of a SQLite file store, on a connection of their own instead of inside the
//! batch writer's commits. A checkpoint copies the WAL's pages into the file and syncs both
//! to disk; SQLite's automatic one runs inside the commit that crosses 1,000 WAL pages, so
//! the writer waited for two `fsync`s every few batches (65 of them, 1.35 s in all, in one
//! traced run of about 16,500 small tasks), and for seconds when the file held pages another
//! process had written without syncing (after a bulk load, the first checkpoint synced them
//! all: 2.47 s in one run).
//!
//! Owns: the checkpoint connection and the task that runs a passive checkpoint after
//! commits, at most one per [`SPACING`]. Must not write rows, hold the write lock, or make a
//! commit wait: a passive checkpoint takes no lock a writer needs. The store's connections
//! keep SQLite's own checkpoint at a larger threshold ([`BACKSTOP_PAGES`]), which is still
//! what restarts the WAL from its start under sustained writes (see there).

use super::super::runtime::StoreRuntime;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The store's connections' own automatic checkpoint, in WAL pages (SQLite's default is
/// 1,000). SQLite starts the WAL over only when a write begins after every page in it was
/// checkpointed, which a passive checkpoint beside a busy writer seldom leaves (commits add
/// pages while it runs); so under sustained writes the WAL grows to this size and the
/// writer's own checkpoint, in a commit, restarts it: about 40 MB of WAL, and one checkpoint
/// in a commit per 10,000 pages instead of per 1,000, with most pages already copied
/// (reviewed: 10-16 restarts in 8 s of serial writing against main's 122). If the checkpoint
/// connection is mid-run then, the writer's is skipped (busy) and the WAL grows past this
/// until the next one.
pub(crate) const BACKSTOP_PAGES: &str = "10000";

/// The least time between two checkpoints. After every commit would be one per batch, two
/// `fsync`s each (1,824 in one filled-store run against 171 inside the writer's commits);
/// 100 ms lets a busy writer put about as many pages in the WAL as SQLite's 1,000-page
/// threshold, and an idle store checkpoints once, after its last commit.
const SPACING: Duration = Duration::from_millis(100);

/// Runs `PRAGMA wal_checkpoint(PASSIVE)` on its own connection after commits.
pub(crate) struct Checkpointer {
    pool: SqlitePool,
    /// One stored wake-up: commits during a checkpoint make exactly one more run after it.
    wake: Arc<Notify>,
}

impl Checkpointer {
    /// Opens the connection (`options` as the store's others) and starts the task on `runtime`.
    pub(crate) async fn start(
        options: SqliteConnectOptions,
        runtime: &StoreRuntime,
    ) -> Result<Checkpointer, sqlx::Error> {
        let pool = super::one_connection().connect_with(options).await?;
        let wake = Arc::new(Notify::new());
        let (task_pool, task_wake) = (pool.clone(), wake.clone());
        runtime.spawn(async move {
            loop {
                task_wake.notified().await;
                if task_pool.is_closed() {
                    return;
                }
                // A busy result (another checkpoint, a reader on an old snapshot) leaves the
                // pages for the next run; an error is not the commit's, which already happened.
                let _ = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&task_pool)
                    .await;
                tokio::time::sleep(SPACING).await;
            }
        });
        Ok(Checkpointer { pool, wake })
    }

    /// A batch committed: its pages are due to be checkpointed. Never waits.
    pub(crate) fn committed(&self) {
        self.wake.notify_one();
    }

    /// Waits for a checkpoint under way, closes the connection and ends the task.
    pub(crate) async fn close(&self) {
        self.pool.close().await;
        self.wake.notify_one();
    }
}
