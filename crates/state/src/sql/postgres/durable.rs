//! Making deferred commits durable on PostgreSQL (`Durability::Deferred`, see `crate::store`):
//! the write whose durable commit flushes the WAL past them, and the server's start time,
//! which tells a restart (that may have lost them) from a flush that made them safe. It must
//! not decide which commits are deferred: that is the state actor's.

use parking_lot::Mutex;
use sqlx::postgres::{PgConnection, PgPool};
use sqlx::Row;

/// A transaction that writes WAL and commits durably, so the WAL is flushed up to its commit
/// record: every commit before it, deferred ones included, is then on disk. It must write:
/// PostgreSQL flushes at commit only a transaction that wrote WAL (one that merely took a
/// transaction id, `txid_current()`, commits without waiting). A transactional logical
/// message is the smallest such write, needs no table, and is a no-op outside logical
/// decoding (a decoding client subscribed to messages sees prefix `tasker-core`). Simple
/// protocol, no prepared statement: it also runs through a transaction pooler. It returns
/// when the server started (see [`flush_wal`]).
const FLUSH_WAL: &str = "SELECT pg_postmaster_start_time()::text \
     FROM (SELECT pg_logical_emit_message(true, 'tasker-core', 'flush')) m";

/// [`FLUSH_WAL`] on a server that revokes the logical message from PUBLIC: this store's own
/// process row written again, a write the store may surely make (none when the row is gone,
/// and then the store's lease is lost and its tasks are another process's).
const FLUSH_WAL_BY_ROW: &str = "WITH w AS (UPDATE tasker_core_processes SET id = id \
         WHERE id = $1 RETURNING 1) \
     SELECT pg_postmaster_start_time()::text FROM (SELECT count(*) FROM w) c";

/// Makes every commit so far durable (see [`FLUSH_WAL`]); returns when the server started,
/// so that a restart since the deferred commits it was to make durable is seen (they may be
/// lost: WAL not flushed before a crash is gone).
pub(super) async fn flush_wal(conn: &mut PgConnection, owner: i32) -> Result<String, sqlx::Error> {
    let row = match sqlx::raw_sql(FLUSH_WAL).fetch_one(&mut *conn).await {
        // 42501: insufficient privilege.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42501") => {
            sqlx::query(FLUSH_WAL_BY_ROW)
                .bind(owner)
                .persistent(false)
                .fetch_one(&mut *conn)
                .await?
        }
        other => other?,
    };
    row.try_get(0)
}

/// When the server started, as last seen (at open, then at each flush of deferred commits).
pub(super) struct ServerStart(Mutex<String>);

impl ServerStart {
    /// Reads it from the server.
    pub(super) async fn read(pool: &PgPool) -> Result<ServerStart, sqlx::Error> {
        let row = sqlx::raw_sql("SELECT pg_postmaster_start_time()::text")
            .fetch_one(pool)
            .await?;
        Ok(ServerStart(Mutex::new(row.try_get(0)?)))
    }

    /// Records `started` (from [`flush_wal`]); when it differs from what was seen before, the
    /// server restarted in between, and says so: commits it had not flushed may be lost.
    pub(super) fn restarted(&self, started: String) -> Option<String> {
        let before = std::mem::replace(&mut *self.0.lock(), started.clone());
        (before != started).then(|| {
            format!(
                "the server restarted (started {started}, before at {before}): commits made \
                 without waiting for the disk before the restart may be lost"
            )
        })
    }
}
