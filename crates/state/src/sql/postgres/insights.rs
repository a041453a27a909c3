//! The insights statements on PostgreSQL (definitions: `src/insights.rs`; their rows become
//! answers in `sql/insights.rs`, which this file must not do).
//!
//! Each call runs in one REPEATABLE READ, READ ONLY transaction, so a result made of several
//! statements (health counts) describes one snapshot. Two planner settings are adjusted for
//! that transaction only:
//! - statements are not kept prepared (`persistent(false)`): after five runs PostgreSQL may
//!   switch a prepared statement to a generic plan that guesses a third of all transitions
//!   fall in any "finished since $1" range, and picks a full scan for it; an unnamed statement
//!   is planned for the actual bounds every time.
//! - `random_page_cost` is lowered to 1.1 (never raised). At the default 4, which models
//!   spinning disks, the planner prices looking up the 35,000 steps finished in a day (of
//!   1,000,000) by primary key above hashing the whole steps table, which measured 5 times
//!   slower (0.24 s against 0.05 s).
//!
//! The slowest-* queries take the top rows from the finished-transitions index
//! (`migrations/postgres/0003_tasker_core_insights.sql`) joined to their steps or tasks, and
//! only then join the names, for those few rows. A filter on the template is first turned
//! into the ids of the named tasks it keeps (`named_tasks`); for steps it adds the join to
//! the task before the top rows are taken, so it has its own statement.

use super::pooling::prepared;
use super::PgDb;
use crate::insights::SlowQuery;
use crate::sql::codec::to_naive;
use crate::sql::dialect::{HealthRows, InsightRows, Query};
use crate::sql::insights_sql::{
    slowest_steps_names, slowest_tasks_rows, step_counts, step_group_names, used_named_tasks,
    TASK_COUNTS,
};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{Postgres, Transaction};
use tasker_model::Timestamp;

/// Begins the read transaction described in the module documentation.
async fn begin(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .persistent(prepared())
        .execute(&mut *tx)
        .await?;
    // The store's connections plan with index scans and nested loops only (`mod.rs`);
    // aggregates over whole tables want the planner's full choice back. JIT and parallel
    // workers stay off (as on those connections): the engine's own work shares the cores.
    sqlx::query(
        "SELECT set_config('random_page_cost', \
                least(current_setting('random_page_cost')::float8, 1.1)::text, true), \
                set_config('enable_seqscan', 'on', true), \
                set_config('enable_hashjoin', 'on', true), \
                set_config('enable_mergejoin', 'on', true)",
    )
    .persistent(prepared())
    .execute(&mut *tx)
    .await?;
    Ok(tx)
}

/// Steps by current state, retries and backoff at $1 (`HealthCounts` says which rules).
const STEP_COUNTS: &str = concat!(
    "
",
    step_counts!(),
    "ws.last_attempted_at
                                   + ws.backoff_request_seconds * interval '1 second' > $1
                               OR (tr.to_state = 'error'
                                   AND tr.created_at
                                       + least(1 << least(greatest(coalesce(ws.attempts, 1), 0), 5),
                                               30) * interval '1 second' > $1)))
FROM tasker_workflow_steps ws
LEFT JOIN tasker_workflow_step_transitions tr
       ON tr.workflow_step_id = ws.workflow_step_id AND tr.most_recent"
);

/// Client connections on the server, and its cap.
const CONNECTIONS: &str = "
SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
       current_setting('max_connections')::bigint";

/// `AnalyticsTotals` over [$1, $2]. Durations in whole microseconds: extract(epoch) of an
/// interval is exact (numeric) on PostgreSQL 14+, and rounds to the microsecond before.
const ANALYTICS: &str = concat!(
    "
WITH finished_tasks AS (
    SELECT f.to_state,
           (extract(epoch FROM f.created_at - t.created_at) * 1000000)::bigint AS micros
    FROM tasker_task_transitions f
    JOIN tasker_tasks t ON t.task_id = f.task_id
    WHERE f.most_recent AND f.to_state IN ('complete', 'error')
      AND f.created_at >= $1 AND f.created_at <= $2
),
completed_steps AS (
    SELECT (extract(epoch FROM f.created_at - ws.created_at) * 1000000)::bigint AS micros
    FROM tasker_workflow_step_transitions f
    JOIN tasker_workflow_steps ws ON ws.workflow_step_id = f.workflow_step_id
    WHERE f.most_recent AND f.to_state IN ('complete', 'error') AND f.to_state = 'complete'
      AND f.created_at >= $1 AND f.created_at <= $2
),",
    used_named_tasks!(),
    "    (SELECT count(*) FROM (SELECT DISTINCT namespace, name FROM used_named_tasks) types),
    -- By `complete` so each is a range of Tasker's index on (complete, created_at, task_id).
    (SELECT count(*) FROM tasker_tasks WHERE complete AND created_at >= $1 AND created_at <= $2)
      + (SELECT count(*) FROM tasker_tasks
          WHERE complete = false AND created_at >= $1 AND created_at <= $2)
      + (SELECT count(*) FROM tasker_tasks
          WHERE complete IS NULL AND created_at >= $1 AND created_at <= $2),
    (SELECT count(*) FROM finished_tasks WHERE to_state = 'complete'),
    (SELECT coalesce(sum(micros), 0)::bigint FROM finished_tasks WHERE to_state = 'complete'),
    (SELECT count(*) FROM finished_tasks WHERE to_state = 'error'),
    (SELECT count(*) FROM completed_steps),
    (SELECT coalesce(sum(micros), 0)::bigint FROM completed_steps)"
);

/// The named tasks a filtered query keeps ($1 namespace, $2 name, $3 version; NULL: any).
const MATCHING_NAMED_TASKS: &str = "
SELECT nt.named_task_id::bigint
FROM tasker_named_tasks nt
JOIN tasker_task_namespaces tn ON tn.task_namespace_id = nt.task_namespace_id
WHERE ($1::text IS NULL OR tn.name = $1)
  AND ($2::text IS NULL OR nt.name = $2)
  AND ($3::text IS NULL OR nt.version = $3)";

/// The ids of the named tasks `q`'s filters keep, or `None` when it has none. Looked up
/// first and handed to the main statement as an array: with the filter as a subquery the
/// planner guessed one named task per namespace (there were four), and, expecting few tasks,
/// started from the tasks table and read every step of every matching task — 0.19 s against
/// 0.05 s for the same answer from the finished-transitions index.
async fn named_tasks(
    tx: &mut Transaction<'static, Postgres>,
    q: &SlowQuery,
) -> Result<Option<Vec<i64>>, sqlx::Error> {
    if !q.filtered() {
        return Ok(None);
    }
    sqlx::query_scalar(MATCHING_NAMED_TASKS)
        .persistent(false)
        .bind(q.namespace.as_deref())
        .bind(q.task_name.as_deref())
        .bind(q.version.as_deref())
        .fetch_all(&mut **tx)
        .await
        .map(Some)
}

/// The slowest finished steps: $1 since, $2 limit; `join` and `filter` narrow them to the
/// named tasks $3 when the query has filters.
macro_rules! slowest_steps_sql {
    ($join:expr, $filter:expr) => {
        concat!(
            "WITH top AS (
    SELECT ws.workflow_step_id, ws.task_id, ws.named_step_id, ws.attempts, ws.retryable,
           ws.created_at, f.created_at AS completed_at, f.to_state,
           (extract(epoch FROM f.created_at - ws.created_at) * 1000000)::bigint AS micros
    FROM tasker_workflow_step_transitions f
    JOIN tasker_workflow_steps ws ON ws.workflow_step_id = f.workflow_step_id ",
            $join,
            "
    WHERE f.most_recent AND f.to_state IN ('complete', 'error') AND f.created_at >= $1 ",
            $filter,
            "
    ORDER BY micros DESC, ws.workflow_step_id
    LIMIT $2",
            slowest_steps_names!(),
        )
    };
}

const SLOWEST_STEPS: &str = slowest_steps_sql!("", "");
const SLOWEST_STEPS_FILTERED: &str = slowest_steps_sql!(
    "JOIN tasker_tasks t ON t.task_id = ws.task_id",
    "AND t.named_task_id = ANY($3)"
);

/// Finished steps since $1 grouped by names, of the named tasks $2 (NULL: all).
const STEP_GROUPS: &str = concat!(
    "
SELECT tn.name, nt.name, ns.name, count(*), sum(s.micros)::bigint, max(s.micros)
FROM (SELECT ws.task_id, ws.named_step_id,
             (extract(epoch FROM f.created_at - ws.created_at) * 1000000)::bigint AS micros
      FROM tasker_workflow_step_transitions f
      JOIN tasker_workflow_steps ws ON ws.workflow_step_id = f.workflow_step_id
      WHERE f.most_recent AND f.to_state IN ('complete', 'error') AND f.created_at >= $1) s
",
    step_group_names!(),
    "WHERE ($2::bigint[] IS NULL OR t.named_task_id = ANY($2))
GROUP BY tn.name, nt.name, ns.name"
);

/// The slowest finished tasks: $1 since, $2 limit, of the named tasks $3 (NULL: all), with
/// their steps counted for the top rows only.
///
/// The tasks and the top tasks' steps are reached per row (LATERAL with OFFSET 0, which the
/// planner cannot turn into a join): with hash and merge joins allowed and no statistics, it
/// joined the finished range to every task, and the top tasks to every step (1.3 s at
/// 1,000,000 tasks for the last hour, 6 ms this way). SQLite's text keeps the shared form
/// (`slowest_tasks_counts!`): it has no LATERAL, and its planner probes by index there.
const SLOWEST_TASKS: &str = concat!(
    "
WITH top AS (
    SELECT t.task_id, t.named_task_id, t.created_at, f.created_at AS completed_at, f.to_state,
           t.initiator, t.source_system,
           (extract(epoch FROM f.created_at - t.created_at) * 1000000)::bigint AS micros
    FROM tasker_task_transitions f
    CROSS JOIN LATERAL (SELECT * FROM tasker_tasks t WHERE t.task_id = f.task_id OFFSET 0) t
    WHERE f.most_recent AND f.to_state IN ('complete', 'error') AND f.created_at >= $1
      AND ($3::bigint[] IS NULL OR t.named_task_id = ANY($3))
    ORDER BY micros DESC, t.task_id
    LIMIT $2
),
counts AS (
    SELECT s.task_id, count(*) AS steps,
           count(*) FILTER (WHERE s.to_state = 'complete') AS completed,
           count(*) FILTER (WHERE s.to_state = 'error') AS errors
    FROM (SELECT ws.task_id,
                 (SELECT tr.to_state FROM tasker_workflow_step_transitions tr
                   WHERE tr.workflow_step_id = ws.workflow_step_id AND tr.most_recent) AS to_state
          FROM top
          CROSS JOIN LATERAL (SELECT * FROM tasker_workflow_steps ws
                              WHERE ws.task_id = top.task_id OFFSET 0) ws) s
    GROUP BY s.task_id
)",
    slowest_tasks_rows!()
);

impl InsightRows for PgDb {
    async fn pin_snapshot(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        // `begin`'s SELECT is the transaction's first statement: it takes the snapshot.
        begin(&self.pool).await
    }

    async fn health_rows_in(
        mut tx: Transaction<'static, Postgres>,
        now: Timestamp,
    ) -> Result<HealthRows<PgRow>, sqlx::Error> {
        let tasks = sqlx::query(TASK_COUNTS)
            .persistent(false)
            .fetch_one(&mut *tx)
            .await?;
        let steps = sqlx::query(STEP_COUNTS)
            .persistent(false)
            .bind(to_naive(now))
            .fetch_one(&mut *tx)
            .await?;
        let connections: (i64, i64) = sqlx::query_as(CONNECTIONS)
            .persistent(false)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(HealthRows {
            tasks,
            steps,
            connections: Some(connections),
        })
    }

    async fn analytics_row(&self, since: Timestamp, now: Timestamp) -> Result<PgRow, sqlx::Error> {
        let mut tx = begin(&self.pool).await?;
        let row = sqlx::query(ANALYTICS)
            .persistent(false)
            .bind(to_naive(since))
            .bind(to_naive(now))
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    async fn slowest_step_rows(&self, q: &SlowQuery) -> Result<Vec<PgRow>, sqlx::Error> {
        self.named_rows(q, |named| {
            let (since, limit) = (to_naive(q.since), i64::from(q.limit));
            match named {
                Some(ids) => sqlx::query(SLOWEST_STEPS_FILTERED)
                    .bind(since)
                    .bind(limit)
                    .bind(ids),
                None => sqlx::query(SLOWEST_STEPS).bind(since).bind(limit),
            }
        })
        .await
    }

    async fn step_group_rows(&self, q: &SlowQuery) -> Result<Vec<PgRow>, sqlx::Error> {
        self.named_rows(q, |named| {
            sqlx::query(STEP_GROUPS).bind(to_naive(q.since)).bind(named)
        })
        .await
    }

    async fn slowest_task_rows(&self, q: &SlowQuery) -> Result<Vec<PgRow>, sqlx::Error> {
        self.named_rows(q, |named| {
            sqlx::query(SLOWEST_TASKS)
                .bind(to_naive(q.since))
                .bind(i64::from(q.limit))
                .bind(named)
        })
        .await
    }
}

impl PgDb {
    /// The rows of the statement `statement` builds over `q`'s named tasks (`None`: every
    /// task), read in one insights transaction ([`begin`]); none, without running it, when
    /// `q` names templates no task was made from.
    async fn named_rows(
        &self,
        q: &SlowQuery,
        statement: impl FnOnce(Option<Vec<i64>>) -> Query<'static, Postgres>,
    ) -> Result<Vec<PgRow>, sqlx::Error> {
        let mut tx = begin(&self.pool).await?;
        let named = named_tasks(&mut tx, q).await?;
        if named.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Vec::new());
        }
        let rows = statement(named)
            .persistent(false)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows)
    }
}
