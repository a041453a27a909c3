//! Task ownership among several engines sharing one PostgreSQL database.
//!
//! Each store is one owner, named by a key of its own. It holds ONE session-level advisory
//! lock, `(class, owner)`, on a connection it keeps for its whole life outside the pool;
//! `class` is the OID of `tasker_core_task_claims`, so stores on different schemas of one
//! database stay out of each other's way. Which tasks an owner has is in that table
//! (`migrations/postgres/0002_tasker_core.sql`): a row per claimed, unfinished task.
//!
//! - A claim is live while its owner's lock is held. When a process dies the server ends
//!   its session and frees the lock at once, so its tasks can be claimed by another engine
//!   right away; dropping the store closes the connection, to the same effect.
//! - Claiming a task (one statement for all ids): insert the row, or take it over when its
//!   owner is this store or is dead. "Dead" is tested after the row is locked, with
//!   `pg_try_advisory_xact_lock(class, owner)`: it succeeds only when no session holds the
//!   owner's lock. Two engines claiming one task are serialised by the row lock; the second
//!   finds the first alive.
//! - A store's new tasks are claimed, and its finished tasks released, inside the batch
//!   transaction that creates or finishes them (see `write.rs`).
//!
//! Why not one advisory lock per task: advisory locks live in the server's shared lock table
//! (about 6,400 slots by default, for the whole server), and a few thousand live tasks ran
//! it out.

use crate::sql::codec::{db_error, to_naive};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool};
use sqlx::{ConnectOptions, Connection};
use std::collections::HashSet;
use tasker_model::{TaskId, TaskerError, TaskerResult, Timestamp};

/// This store's identity as an owner of tasks, and the connection that keeps it alive.
pub(crate) struct Owner {
    options: PgConnectOptions,
    /// The first key of every owner lock: the claims table's OID.
    class: i32,
    /// This store's key.
    key: i32,
    conn: Option<PgConnection>,
}

/// Attempts at finding a free owner key before giving up.
const KEY_ATTEMPTS: usize = 16;

impl Owner {
    /// Connects and takes a fresh owner key (random, positive, not held by a live store).
    pub(crate) async fn open(options: PgConnectOptions, pool: &PgPool) -> TaskerResult<Owner> {
        let oid: i64 = sqlx::query_scalar("SELECT 'tasker_core_task_claims'::regclass::oid::int8")
            .fetch_one(pool)
            .await
            .map_err(|e| db_error("finding tasker_core_task_claims", e))?;
        let mut owner = Owner {
            options,
            class: oid as u32 as i32,
            key: 0,
            conn: None,
        };
        for _ in 0..KEY_ATTEMPTS {
            let key = fastrand::i32(1..i32::MAX);
            if owner.lock(key).await? {
                owner.key = key;
                return Ok(owner);
            }
        }
        Err(TaskerError::Database(format!(
            "no free owner key for task claims after {KEY_ATTEMPTS} attempts"
        )))
    }

    /// Takes `(class, key)` on the owner connection (opening it when needed).
    async fn lock(&mut self, key: i32) -> TaskerResult<bool> {
        if self.conn.is_none() {
            let conn = self
                .options
                .connect()
                .await
                .map_err(|e| db_error("opening the task-claims connection", e))?;
            self.conn = Some(conn);
        }
        let conn = self.conn.as_mut().expect("just opened");
        let got = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
            .bind(self.class)
            .bind(key)
            .fetch_one(conn)
            .await;
        match got {
            Ok(got) => Ok(got),
            Err(e) => {
                // Whatever this session held is gone with it.
                self.conn = None;
                Err(db_error("taking the task-claims lock", e))
            }
        }
    }

    /// This store's key (the `owner` column of its claims).
    pub(crate) fn key(&self) -> i32 {
        self.key
    }

    /// Checks the owner connection and, if it was lost, reconnects and takes the same key
    /// again (claims of this store made meanwhile by others stay theirs).
    pub(crate) async fn ensure_alive(&mut self) -> TaskerResult<()> {
        if let Some(conn) = self.conn.as_mut() {
            if conn.ping().await.is_ok() {
                return Ok(());
            }
            self.conn = None;
        }
        if self.lock(self.key).await? {
            Ok(())
        } else {
            Err(TaskerError::Database(format!(
                "lost the task-claims connection, and owner key {} is now held by another session",
                self.key
            )))
        }
    }

    /// Claims `ids` for this store; returns those it owns afterwards, in the order given.
    pub(crate) async fn claim(
        &mut self,
        pool: &PgPool,
        ids: &[TaskId],
    ) -> TaskerResult<Vec<TaskId>> {
        self.ensure_alive().await?;
        let got: Vec<i64> = sqlx::query_scalar(
            "INSERT INTO tasker_core_task_claims AS c (task_id, owner, claimed_at) \
             SELECT t.task_id, $2, $3 FROM tasker_tasks t WHERE t.task_id = ANY($1) \
             ON CONFLICT (task_id) DO UPDATE \
                SET owner = EXCLUDED.owner, claimed_at = EXCLUDED.claimed_at \
                WHERE c.owner = EXCLUDED.owner OR pg_try_advisory_xact_lock($4, c.owner) \
             RETURNING c.task_id",
        )
        .bind(ids.iter().map(|t| t.0).collect::<Vec<_>>())
        .bind(self.key)
        .bind(to_naive(Timestamp::now()))
        .bind(self.class)
        .fetch_all(pool)
        .await
        .map_err(|e| db_error("claiming tasks", e))?;
        let got: HashSet<i64> = got.into_iter().collect();
        Ok(ids
            .iter()
            .filter(|id| got.contains(&id.0))
            .copied()
            .collect())
    }

    /// Ends the session: the owner lock is freed now, not when the server notices.
    pub(crate) async fn close(&mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = conn.close().await;
        }
    }
}
