//! Retention in the SQL stores: [`SqlStore::purge_finished`], one batch of expired finished
//! tasks deleted with all their rows in one transaction (see [`crate::retention`]).
//!
//! How it stays cheap on a big history and safe beside the engine's writes:
//! - The batch is selected by an index of the finished transitions by time
//!   (`tasker_core_task_transitions_retention`, partial on the retained states), oldest
//!   first, `LIMIT` the batch; every delete is keyed by the task or step ids selected, through
//!   the index each table has on them. No join is left to table statistics, which go stale
//!   where autovacuum is off. PostgreSQL without statistics still misjudges an id list of a
//!   few hundred (a default selectivity of 1/200 per id: it expects the whole table and
//!   seq-scans it) and the oldest rows of the index (a bitmap scan of every expired row, then
//!   a sort): the purge's transaction turns sequential and bitmap scans off for itself
//!   (`SET LOCAL`), leaving each statement the index plan it was written for.
//! - It holds the store's writer lock, so it never interleaves with a batch of the state
//!   actor, and forgets the deleted tasks' cached history heads before letting go: a later
//!   change to one reads the database and finds no such task.
//! - PostgreSQL locks the selected tasks' rows `FOR UPDATE SKIP LOCKED`, so two engines
//!   purging at once split the work instead of deleting (and counting) the same tasks.
//!
//! The SQL text is each database's (`sqlite/retention.rs`, `postgres/retention.rs`); this
//! file must not hold any.

use crate::retention::Purged;
use crate::sql::codec::{db_error, parse_state};
use crate::sql::dialect::{Dialect, InsightRows, Param, ReadRow};
use crate::sql::store::SqlStore;
use sqlx::Database;
use std::collections::HashSet;
use tasker_model::{State, StepId, TaskId, TaskerResult, Timestamp};

/// A database's statements for one purge; every one after `expired` takes one id list.
pub(crate) struct PurgeSql {
    /// What opens the purge's transaction (SQLite: `BEGIN IMMEDIATE`, so it takes the write
    /// lock before reading what it will delete).
    pub(crate) begin: &'static str,
    /// Run first in the transaction, without parameters (PostgreSQL's planner settings).
    pub(crate) setup: &'static [&'static str],
    /// `(task_id, to_state)` of the expired tasks finished before `$1`, oldest first, at
    /// most `$2`.
    pub(crate) expired: &'static str,
    /// `(task_id, to_state)` of the tasks among the ids `$2` that are expired (finished
    /// before `$1`): what an export hook saw, still to be deleted.
    pub(crate) expired_among: &'static str,
    /// Of the task ids `$1`, the ones this purge may delete (locked for it), as `task_id`.
    pub(crate) lock: &'static str,
    /// `workflow_step_id` of the steps of the tasks `$1`.
    pub(crate) steps: &'static str,
    /// `(to_state, count)` of the most recent transitions of the steps `$1`.
    pub(crate) step_states: &'static str,
    /// Deletes keyed by the step ids, run first.
    pub(crate) by_steps: &'static [&'static str],
    /// Deletes keyed by the task ids, run after, the tasks themselves last.
    pub(crate) by_tasks: &'static [&'static str],
}

/// A database that can purge: its statements.
pub(crate) trait Retention: Dialect {
    const PURGE: PurgeSql;
}

/// Which expired tasks one purge deletes.
enum Pick<'a> {
    /// The oldest, at most this many.
    Oldest(usize),
    /// Those of these ids still expired.
    Among(&'a [TaskId]),
}

impl<D: InsightRows + Retention> SqlStore<D> {
    /// See [`Store::purge_finished`](crate::Store::purge_finished).
    pub(crate) fn purge_finished(&self, before: Timestamp, limit: usize) -> TaskerResult<Purged> {
        self.purge(before, Pick::Oldest(limit))
    }

    /// See [`Store::purge_expired`](crate::Store::purge_expired).
    pub(crate) fn purge_expired(&self, before: Timestamp, ids: &[TaskId]) -> TaskerResult<Purged> {
        if ids.is_empty() {
            return Ok(Purged::default());
        }
        self.purge(before, Pick::Among(ids))
    }

    /// See [`Store::expired_finished`](crate::Store::expired_finished).
    pub(crate) fn expired_finished(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> TaskerResult<Vec<TaskId>> {
        let inner = &self.inner;
        self.runtime()
            .block_on(async {
                // A plain transaction (no write lock), for the planner settings only.
                let mut tx = inner.db.pool().begin().await?;
                let conn: &mut <D::Db as Database>::Connection = &mut tx;
                for statement in D::PURGE.setup {
                    D::rows(conn, statement, &[]).await?;
                }
                let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                let params = [Param::Time(before), Param::Int(limit)];
                let ids = D::rows(conn, D::PURGE.expired, &params)
                    .await?
                    .iter()
                    .map(|r| r.get(0).map(TaskId))
                    .collect::<Result<Vec<_>, _>>()?;
                tx.commit().await?;
                Ok::<_, sqlx::Error>(ids)
            })
            .map_err(|e| {
                db_error(
                    format!("reading expired finished tasks from {}", inner.describe),
                    e,
                )
            })
    }

    fn purge(&self, before: Timestamp, pick: Pick<'_>) -> TaskerResult<Purged> {
        let inner = &self.inner;
        let purged = self
            .runtime()
            .block_on(async {
                let _writer = inner.writer.lock().await;
                let purged = purge::<D>(&inner.db, before, pick).await?;
                let gone: HashSet<TaskId> = purged.tasks.iter().copied().collect();
                inner.heads.lock().forget_tasks(&gone);
                Ok::<_, Failed>(purged)
            })
            .map_err(|e| match e {
                Failed::Sql(e) => db_error(
                    format!("deleting expired finished tasks from {}", inner.describe),
                    e,
                ),
                Failed::Store(e) => e,
            })?;
        Ok(purged)
    }
}

enum Failed {
    Sql(sqlx::Error),
    Store(tasker_model::TaskerError),
}

impl From<sqlx::Error> for Failed {
    fn from(e: sqlx::Error) -> Self {
        Failed::Sql(e)
    }
}

async fn purge<D: Retention>(db: &D, before: Timestamp, pick: Pick<'_>) -> Result<Purged, Failed> {
    let sql = &D::PURGE;
    let mut tx = db.pool().begin_with(sql.begin).await?;
    let conn: &mut <D::Db as Database>::Connection = &mut tx;
    for statement in sql.setup {
        D::rows(conn, statement, &[]).await?;
    }
    let expired = match pick {
        Pick::Oldest(limit) => {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            D::rows(conn, sql.expired, &[Param::Time(before), Param::Int(limit)]).await?
        }
        Pick::Among(ids) => {
            let ids = ids.iter().map(|t| t.0).collect();
            D::rows(
                conn,
                sql.expired_among,
                &[Param::Time(before), Param::Ids(ids)],
            )
            .await?
        }
    };
    let mut states: Vec<(TaskId, State)> = Vec::with_capacity(expired.len());
    for row in &expired {
        let state: String = row.get(1)?;
        states.push((
            TaskId(row.get(0)?),
            parse_state(&state).map_err(Failed::Store)?,
        ));
    }
    if states.is_empty() {
        return Ok(Purged::default());
    }
    let ids: Vec<i64> = states.iter().map(|(t, _)| t.0).collect();
    let locked: HashSet<i64> = D::rows(conn, sql.lock, &[Param::Ids(ids)])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect::<Result<_, _>>()?;
    states.retain(|(t, _)| locked.contains(&t.0));
    if states.is_empty() {
        return Ok(Purged::default());
    }
    let task_ids: Vec<i64> = states.iter().map(|(t, _)| t.0).collect();
    let step_ids: Vec<i64> = D::rows(conn, sql.steps, &[Param::Ids(task_ids.clone())])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect::<Result<_, _>>()?;
    let mut purged = Purged::default();
    for (task, state) in &states {
        purged.tasks.push(*task);
        purged.task_states[state.index()] += 1;
    }
    purged.steps = step_ids.iter().map(|s| StepId(*s)).collect();
    let mut with_history = 0u64;
    for row in D::rows(conn, sql.step_states, &[Param::Ids(step_ids.clone())]).await? {
        let state: String = row.get(0)?;
        let count: i64 = row.get(1)?;
        purged.step_states[parse_state(&state).map_err(Failed::Store)?.index()] += count as u64;
        with_history += count as u64;
    }
    // A step without a transition is pending (TASKER.md).
    purged.step_states[State::Pending.index()] += step_ids.len() as u64 - with_history;
    for delete in sql.by_steps {
        D::rows(conn, delete, &[Param::Ids(step_ids.clone())]).await?;
    }
    for delete in sql.by_tasks {
        D::rows(conn, delete, &[Param::Ids(task_ids.clone())]).await?;
    }
    tx.commit().await?;
    Ok(purged)
}
