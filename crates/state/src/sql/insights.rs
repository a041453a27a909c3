//! The insights (definitions: `src/insights.rs`) from either database's rows: the dialect runs
//! its statements (`sqlite/insights.rs`, `postgres/insights.rs`), this file turns their rows
//! into answers, once. Must not hold SQL.

use crate::insights::{
    rank_groups, seconds, AnalyticsMetrics, AnalyticsTotals, HealthCounts, SlowQuery, SlowestStep,
    SlowestStepGroup, SlowestTask, StepGroupTotals,
};
use crate::sql::codec::{count, parse_state, ReadError};
use crate::sql::dialect::{HealthRows, InsightRows, ReadRow};
use tasker_model::{StepId, TaskId, Timestamp};

/// A count column read as u64.
fn n(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Columns of the task counts: total, then one per state (pending, in_progress, complete,
/// error, cancelled, resolved_manually); of the step counts, the same and then retryable
/// errors, exhausted retries, in backoff.
pub(crate) async fn health_counts<D: InsightRows>(
    db: &D,
    now: Timestamp,
) -> Result<HealthCounts, sqlx::Error> {
    counts_of::<D>(db.health_rows(now).await?)
}

/// [`health_counts`] in a snapshot pinned earlier ([`InsightRows::pin_snapshot`]).
pub(crate) async fn health_counts_in<D: InsightRows>(
    snapshot: sqlx::Transaction<'static, D::Db>,
    now: Timestamp,
) -> Result<HealthCounts, sqlx::Error> {
    counts_of::<D>(D::health_rows_in(snapshot, now).await?)
}

fn counts_of<D: InsightRows>(rows: HealthRows<D::Row>) -> Result<HealthCounts, sqlx::Error> {
    let (t, s) = (&rows.tasks, &rows.steps);
    let c = |row: &D::Row, i: usize| row.get::<i64>(i).map(n);
    Ok(HealthCounts {
        total_tasks: c(t, 0)?,
        pending_tasks: c(t, 1)?,
        in_progress_tasks: c(t, 2)?,
        complete_tasks: c(t, 3)?,
        error_tasks: c(t, 4)?,
        cancelled_tasks: c(t, 5)?,
        resolved_manually_tasks: c(t, 6)?,
        total_steps: c(s, 0)?,
        pending_steps: c(s, 1)?,
        in_progress_steps: c(s, 2)?,
        complete_steps: c(s, 3)?,
        error_steps: c(s, 4)?,
        cancelled_steps: c(s, 5)?,
        resolved_manually_steps: c(s, 6)?,
        retryable_error_steps: c(s, 7)?,
        exhausted_retry_steps: c(s, 8)?,
        in_backoff_steps: c(s, 9)?,
        active_connections: rows.connections.map(|(active, _)| n(active)),
        max_connections: rows.connections.map(|(_, max)| n(max)),
    })
}

/// Columns: the [`AnalyticsTotals`] fields in their order.
pub(crate) async fn analytics_metrics<D: InsightRows>(
    db: &D,
    since: Timestamp,
    now: Timestamp,
) -> Result<AnalyticsMetrics, sqlx::Error> {
    let r = db.analytics_row(since, now).await?;
    let c = |i: usize| r.get::<i64>(i);
    Ok(AnalyticsTotals {
        active_tasks: n(c(0)?),
        namespaces: n(c(1)?),
        task_types: n(c(2)?),
        tasks_created: n(c(3)?),
        tasks_completed: n(c(4)?),
        tasks_completed_micros: c(5)?,
        tasks_failed: n(c(6)?),
        steps_completed: n(c(7)?),
        steps_completed_micros: c(8)?,
    }
    .metrics(since, now))
}

/// Columns: workflow_step_id, task_id, step name, task name, namespace, version, micros,
/// attempts, created_at, completed_at, retryable, final state.
pub(crate) async fn slowest_steps<D: InsightRows>(
    db: &D,
    q: &SlowQuery,
) -> Result<Vec<SlowestStep>, ReadError> {
    let rows = db.slowest_step_rows(q).await?;
    rows.iter()
        .map(|r| {
            Ok(SlowestStep {
                workflow_step_id: StepId(r.get(0)?),
                task_id: TaskId(r.get(1)?),
                step_name: r.get(2)?,
                task_name: r.get(3)?,
                namespace_name: r.get(4)?,
                version: r.get(5)?,
                duration_seconds: seconds(r.get(6)?),
                attempts: count(r.get(7)?),
                created_at: r.time(8)?,
                completed_at: r.time(9)?,
                retryable: r.get(10)?,
                step_status: parse_state(&r.get::<String>(11)?)?,
            })
        })
        .collect()
}

/// Columns: namespace, task name, step name, count, sum of micros, max of micros.
pub(crate) async fn slowest_step_groups<D: InsightRows>(
    db: &D,
    q: &SlowQuery,
) -> Result<Vec<SlowestStepGroup>, sqlx::Error> {
    let rows = db.step_group_rows(q).await?;
    let groups = rows
        .iter()
        .map(|r| {
            Ok(StepGroupTotals {
                namespace_name: r.get(0)?,
                task_name: r.get(1)?,
                step_name: r.get(2)?,
                count: n(r.get(3)?),
                sum_micros: r.get(4)?,
                max_micros: r.get(5)?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(rank_groups(groups, q.limit))
}

/// Columns: task_id, task name, namespace, version, micros, steps, completed steps, error
/// steps, created_at, completed_at, initiator, source_system, final state.
pub(crate) async fn slowest_tasks<D: InsightRows>(
    db: &D,
    q: &SlowQuery,
) -> Result<Vec<SlowestTask>, ReadError> {
    let rows = db.slowest_task_rows(q).await?;
    rows.iter()
        .map(|r| {
            Ok(SlowestTask {
                task_id: TaskId(r.get(0)?),
                task_name: r.get(1)?,
                namespace_name: r.get(2)?,
                version: r.get(3)?,
                duration_seconds: seconds(r.get(4)?),
                step_count: n(r.get(5)?),
                completed_steps: n(r.get(6)?),
                error_steps: n(r.get(7)?),
                created_at: r.time(8)?,
                completed_at: r.time(9)?,
                initiator: r.get(10)?,
                source_system: r.get(11)?,
                task_status: parse_state(&r.get::<String>(12)?)?,
            })
        })
        .collect()
}
