//! The insights statements on SQLite (definitions: `src/insights.rs`; their rows become
//! answers in `sql/insights.rs`), the same statements as `sql/postgres/insights.rs` in
//! SQLite's dialect. Must not assemble answers.
//!
//! Time: timestamps are UTC text (`YYYY-MM-DD HH:MM:SS.ffffff`), which compares like the
//! instants it names, so bounds ("finished since") compare text and can use the
//! finished-transitions index (`migrations/sqlite/0002_tasker_core_insights.sql`). Arithmetic
//! (durations, backoff deadlines) needs numbers: `micros!` turns the text into whole
//! microseconds since the epoch, exactly. (`julianday` is a double of days and loses tens of
//! microseconds, enough to reorder two equally slow steps.)
//!
//! Each call reads in one transaction: a snapshot, so the counts of several statements agree.

use super::SqliteDb;
use crate::insights::SlowQuery;
use crate::sql::codec::sqlite_time;
use crate::sql::dialect::{Dialect, HealthRows, InsightRows, Param};
use crate::sql::insights_sql::{
    slowest_steps_names, slowest_tasks_counts, step_counts, step_group_names, used_named_tasks,
    TASK_COUNTS,
};
use sqlx::sqlite::{Sqlite, SqliteConnection, SqliteRow};
use sqlx::Transaction;
use tasker_model::Timestamp;

/// Microseconds since the epoch of a timestamp column: whole seconds from `strftime('%s')`,
/// plus the fraction's digits padded to six (text without a fraction, or with fewer digits,
/// reads right). NULL stays NULL.
macro_rules! micros {
    ($col:literal) => {
        concat!(
            "(CAST(strftime('%s', ",
            $col,
            ") AS INTEGER) * 1000000 + CAST(substr(substr(",
            $col,
            ", 21) || '000000', 1, 6) AS INTEGER))"
        )
    };
}

/// `<finished> - <started> AS micros`: the time between two timestamp-text columns.
macro_rules! elapsed_micros {
    ($started:literal, $finished:literal) => {
        concat!(micros!($finished), " - ", micros!($started), " AS micros")
    };
}

/// Steps by current state, retries and backoff at ?1 (microseconds; `HealthCounts` says
/// which rules).
const STEP_COUNTS: &str = concat!(
    "
",
    step_counts!(),
    micros!("ws.last_attempted_at"),
    " + ws.backoff_request_seconds * 1000000 > ?1
                               OR (tr.to_state = 'error' AND ",
    micros!("tr.created_at"),
    " + min(1 << min(max(coalesce(ws.attempts, 1), 0), 5), 30) * 1000000 > ?1)))
FROM tasker_workflow_steps ws
LEFT JOIN tasker_workflow_step_transitions tr
       ON tr.workflow_step_id = ws.workflow_step_id AND tr.most_recent"
);

/// `AnalyticsTotals` over [?1, ?2] (timestamp text). The finished task transitions name their
/// index (INDEXED BY, here and in SLOWEST_TASKS): since the listing's head index
/// (`tasker_core_task_transitions_head`, migration 0006) SQLite preferred it for `to_state IN
/// (…)` and read every complete task (2.3-2.7 s for the overview's slowest tasks at 1,000,000).
const ANALYTICS: &str = concat!(
    "
WITH finished_tasks AS (
    SELECT f.to_state, ",
    elapsed_micros!("t.created_at", "f.created_at"),
    "
    FROM tasker_task_transitions f INDEXED BY tasker_core_task_transitions_finished
    JOIN tasker_tasks t ON t.task_id = f.task_id
    WHERE f.most_recent AND f.to_state IN ('complete', 'error')
      AND f.created_at >= ?1 AND f.created_at <= ?2
),
completed_steps AS (
    SELECT ",
    elapsed_micros!("ws.created_at", "f.created_at"),
    "
    FROM tasker_workflow_step_transitions f
    JOIN tasker_workflow_steps ws ON ws.workflow_step_id = f.workflow_step_id
    WHERE f.most_recent AND f.to_state IN ('complete', 'error') AND f.to_state = 'complete'
      AND f.created_at >= ?1 AND f.created_at <= ?2
),",
    used_named_tasks!(),
    "    (SELECT count(*) FROM (SELECT DISTINCT namespace, name FROM used_named_tasks)),
    (SELECT count(*) FROM tasker_tasks WHERE created_at >= ?1 AND created_at <= ?2),
    (SELECT count(*) FROM finished_tasks WHERE to_state = 'complete'),
    (SELECT coalesce(sum(micros), 0) FROM finished_tasks WHERE to_state = 'complete'),
    (SELECT count(*) FROM finished_tasks WHERE to_state = 'error'),
    (SELECT count(*) FROM completed_steps),
    (SELECT coalesce(sum(micros), 0) FROM completed_steps)"
);

/// The named tasks a filtered query keeps (?3 namespace, ?4 name, ?5 version; NULL: any).
macro_rules! matching_named_tasks {
    () => {
        "(SELECT nt.named_task_id FROM tasker_named_tasks nt \
           JOIN tasker_task_namespaces tn ON tn.task_namespace_id = nt.task_namespace_id \
          WHERE (?3 IS NULL OR tn.name = ?3) \
            AND (?4 IS NULL OR nt.name = ?4) \
            AND (?5 IS NULL OR nt.version = ?5))"
    };
}

/// The slowest finished steps: ?1 since, ?2 limit; `join` and `filter` narrow them to a
/// template when the query has filters.
macro_rules! slowest_steps_sql {
    ($join:expr, $filter:expr) => {
        concat!(
            "WITH top AS (
    SELECT ws.workflow_step_id, ws.task_id, ws.named_step_id, ws.attempts, ws.retryable,
           ws.created_at, f.created_at AS completed_at, f.to_state, ",
            elapsed_micros!("ws.created_at", "f.created_at"),
            "
    FROM tasker_workflow_step_transitions f
    JOIN tasker_workflow_steps ws ON ws.workflow_step_id = f.workflow_step_id ",
            $join,
            "
    WHERE f.most_recent AND f.to_state IN ('complete', 'error') AND f.created_at >= ?1 ",
            $filter,
            "
    ORDER BY micros DESC, ws.workflow_step_id
    LIMIT ?2",
            slowest_steps_names!(),
        )
    };
}

const SLOWEST_STEPS: &str = slowest_steps_sql!("", "");
const SLOWEST_STEPS_FILTERED: &str = slowest_steps_sql!(
    "JOIN tasker_tasks t ON t.task_id = ws.task_id",
    concat!("AND t.named_task_id IN ", matching_named_tasks!())
);

/// Finished steps since ?1 grouped by names, filtered by ?2..?4 (NULL: any).
const STEP_GROUPS: &str = concat!(
    "
SELECT tn.name, nt.name, ns.name, count(*), sum(s.micros), max(s.micros)
FROM (SELECT ws.task_id, ws.named_step_id, ",
    elapsed_micros!("ws.created_at", "f.created_at"),
    "
      FROM tasker_workflow_step_transitions f
      JOIN tasker_workflow_steps ws ON ws.workflow_step_id = f.workflow_step_id
      WHERE f.most_recent AND f.to_state IN ('complete', 'error') AND f.created_at >= ?1) s
",
    step_group_names!(),
    "WHERE (?2 IS NULL OR tn.name = ?2)
  AND (?3 IS NULL OR nt.name = ?3)
  AND (?4 IS NULL OR nt.version = ?4)
GROUP BY tn.name, nt.name, ns.name"
);

/// The slowest finished tasks: ?1 since, ?2 limit, ?3..?5 filters (NULL: any), with their
/// steps counted for the top rows only.
const SLOWEST_TASKS: &str = concat!(
    "
WITH top AS (
    SELECT t.task_id, t.named_task_id, t.created_at, f.created_at AS completed_at, f.to_state,
           t.initiator, t.source_system, ",
    elapsed_micros!("t.created_at", "f.created_at"),
    "
    FROM tasker_task_transitions f INDEXED BY tasker_core_task_transitions_finished
    JOIN tasker_tasks t ON t.task_id = f.task_id
    WHERE f.most_recent AND f.to_state IN ('complete', 'error') AND f.created_at >= ?1
      AND t.named_task_id IN ",
    matching_named_tasks!(),
    "
    ORDER BY micros DESC, t.task_id
    LIMIT ?2",
    slowest_tasks_counts!(),
);

/// The one row an aggregate statement returns.
async fn one_row(
    conn: &mut SqliteConnection,
    sql: &'static str,
    params: &[Param<'_>],
) -> Result<SqliteRow, sqlx::Error> {
    let rows = SqliteDb::rows(conn, sql, params).await?;
    rows.into_iter().next().ok_or(sqlx::Error::RowNotFound)
}

impl InsightRows for SqliteDb {
    async fn pin_snapshot(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        // A deferred transaction takes its (WAL) snapshot at its first read of a table.
        sqlx::query("SELECT 1 FROM tasker_tasks LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
        Ok(tx)
    }

    async fn health_rows_in(
        mut tx: Transaction<'static, Sqlite>,
        now: Timestamp,
    ) -> Result<HealthRows<SqliteRow>, sqlx::Error> {
        let tasks = one_row(&mut tx, TASK_COUNTS, &[]).await?;
        let steps = one_row(&mut tx, STEP_COUNTS, &[Param::Int(now.0)]).await?;
        tx.commit().await?;
        Ok(HealthRows {
            tasks,
            steps,
            connections: None,
        })
    }

    async fn analytics_row(
        &self,
        since: Timestamp,
        now: Timestamp,
    ) -> Result<SqliteRow, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let bounds = [Param::Time(since), Param::Time(now)];
        let row = one_row(&mut tx, ANALYTICS, &bounds).await?;
        tx.commit().await?;
        Ok(row)
    }

    async fn slowest_step_rows(&self, q: &SlowQuery) -> Result<Vec<SqliteRow>, sqlx::Error> {
        let sql = if q.filtered() {
            SLOWEST_STEPS_FILTERED
        } else {
            SLOWEST_STEPS
        };
        let mut query = sqlx::query(sql)
            .bind(sqlite_time(q.since))
            .bind(i64::from(q.limit));
        if q.filtered() {
            query = query
                .bind(q.namespace.as_deref())
                .bind(q.task_name.as_deref())
                .bind(q.version.as_deref());
        }
        query.fetch_all(&self.pool).await
    }

    async fn step_group_rows(&self, q: &SlowQuery) -> Result<Vec<SqliteRow>, sqlx::Error> {
        sqlx::query(STEP_GROUPS)
            .bind(sqlite_time(q.since))
            .bind(q.namespace.as_deref())
            .bind(q.task_name.as_deref())
            .bind(q.version.as_deref())
            .fetch_all(&self.pool)
            .await
    }

    async fn slowest_task_rows(&self, q: &SlowQuery) -> Result<Vec<SqliteRow>, sqlx::Error> {
        sqlx::query(SLOWEST_TASKS)
            .bind(sqlite_time(q.since))
            .bind(i64::from(q.limit))
            .bind(q.namespace.as_deref())
            .bind(q.task_name.as_deref())
            .bind(q.version.as_deref())
            .fetch_all(&self.pool)
            .await
    }
}
