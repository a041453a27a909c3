//! Reading a task back from PostgreSQL.

use crate::records::{StepRecord, TaskRecord, TransitionRecord};
use crate::sql::codec::{count, from_naive, meta_from_json, parse_json, parse_state, ReadError};
use crate::sql::view::TaskRows;
use chrono::NaiveDateTime;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::Row;
use std::sync::Arc;
use tasker_model::{StepId, TaskId, TemplateKey, Timestamp};

/// The rows of task `id`, read in one REPEATABLE READ transaction (a snapshot: a commit
/// landing meanwhile is seen whole or not at all).
pub(super) async fn task(pool: &PgPool, id: TaskId) -> Result<Option<TaskRows>, ReadError> {
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?;
    let Some(row) = sqlx::query(
        "SELECT t.named_task_id::bigint, ns.name, nt.name, nt.version, t.context::text, t.initiator, \
                t.source_system, t.reason, t.tags::text, t.complete, t.requested_at, \
                t.created_at, t.updated_at \
         FROM tasker_tasks t \
         JOIN tasker_named_tasks nt ON nt.named_task_id = t.named_task_id \
         JOIN tasker_task_namespaces ns ON ns.task_namespace_id = nt.task_namespace_id \
         WHERE t.task_id = $1",
    )
    .bind(id.0)
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(None);
    };
    let task = TaskRecord {
        task_id: id,
        template: TemplateKey {
            namespace: row.try_get(1)?,
            name: row.try_get(2)?,
            version: row.try_get(3)?,
        },
        context: Arc::new(parse_json(row.try_get::<Option<String>, _>(4)?.as_deref())?),
        initiator: row.try_get(5)?,
        source_system: row.try_get(6)?,
        reason: row.try_get(7)?,
        tags: parse_json(row.try_get::<Option<String>, _>(8)?.as_deref())?,
        complete: row.try_get(9)?,
        requested_at: time(&row, 10)?,
        created_at: time(&row, 11)?,
        updated_at: time(&row, 12)?,
    };
    let named_task_id: i64 = row.try_get(0)?;

    let transitions = sqlx::query(
        "SELECT task_id, from_state, to_state, metadata::text, sort_key, most_recent, created_at \
         FROM tasker_task_transitions WHERE task_id = $1 ORDER BY sort_key",
    )
    .bind(id.0)
    .fetch_all(&mut *tx)
    .await?
    .iter()
    .map(|r| transition(r).map(|(_, t)| t))
    .collect::<Result<Vec<_>, _>>()?;

    let steps = sqlx::query(
        "SELECT ws.workflow_step_id, ns.name, ws.retryable, ws.retry_limit, ws.in_process, \
                ws.processed, ws.processed_at, ws.attempts, ws.last_attempted_at, \
                ws.backoff_request_seconds, ws.results::text, ws.skippable, ws.created_at, \
                ws.updated_at \
         FROM tasker_workflow_steps ws \
         JOIN tasker_named_steps ns ON ns.named_step_id = ws.named_step_id \
         WHERE ws.task_id = $1 ORDER BY ws.workflow_step_id",
    )
    .bind(id.0)
    .fetch_all(&mut *tx)
    .await?
    .iter()
    .map(|r| step(r, id))
    .collect::<Result<Vec<_>, _>>()?;

    let step_transitions = sqlx::query(
        "SELECT tr.workflow_step_id, tr.from_state, tr.to_state, tr.metadata::text, \
                tr.sort_key, tr.most_recent, tr.created_at \
         FROM tasker_workflow_step_transitions tr \
         JOIN tasker_workflow_steps ws ON ws.workflow_step_id = tr.workflow_step_id \
         WHERE ws.task_id = $1 ORDER BY tr.workflow_step_id, tr.sort_key",
    )
    .bind(id.0)
    .fetch_all(&mut *tx)
    .await?
    .iter()
    .map(|r| transition(r).map(|(s, t)| (StepId(s), t)))
    .collect::<Result<Vec<_>, _>>()?;

    let edges = sqlx::query(
        "SELECT e.from_step_id, e.to_step_id FROM tasker_workflow_step_edges e \
         JOIN tasker_workflow_steps ws ON ws.workflow_step_id = e.to_step_id \
         WHERE ws.task_id = $1 ORDER BY e.id",
    )
    .bind(id.0)
    .fetch_all(&mut *tx)
    .await?
    .iter()
    .map(|r| Ok((StepId(r.try_get(0)?), StepId(r.try_get(1)?))))
    .collect::<Result<Vec<_>, ReadError>>()?;
    tx.commit().await?;
    Ok(Some(TaskRows {
        task,
        named_task_id,
        transitions,
        steps,
        step_transitions,
        edges,
    }))
}

fn time(row: &PgRow, i: usize) -> Result<Timestamp, ReadError> {
    Ok(from_naive(row.try_get::<NaiveDateTime, _>(i)?))
}

fn opt_time(row: &PgRow, i: usize) -> Result<Option<Timestamp>, ReadError> {
    Ok(row.try_get::<Option<NaiveDateTime>, _>(i)?.map(from_naive))
}

/// (owner, transition) from `owner, from_state, to_state, metadata, sort_key, most_recent,
/// created_at`.
fn transition(row: &PgRow) -> Result<(i64, TransitionRecord), ReadError> {
    let from: Option<String> = row.try_get(1)?;
    Ok((
        row.try_get(0)?,
        TransitionRecord {
            from_state: from.as_deref().map(parse_state).transpose()?,
            to_state: parse_state(&row.try_get::<String, _>(2)?)?,
            meta: meta_from_json(parse_json(row.try_get::<Option<String>, _>(3)?.as_deref())?),
            sort_key: row.try_get(4)?,
            most_recent: row.try_get(5)?,
            created_at: time(row, 6)?,
        },
    ))
}

fn step(row: &PgRow, task_id: TaskId) -> Result<StepRecord, ReadError> {
    let results: Option<String> = row.try_get(10)?;
    Ok(StepRecord {
        step_id: StepId(row.try_get(0)?),
        task_id,
        name: Arc::from(row.try_get::<String, _>(1)?),
        template_index: 0,
        retryable: row.try_get(2)?,
        retry_limit: count(row.try_get(3)?).unwrap_or(3),
        in_process: row.try_get(4)?,
        processed: row.try_get(5)?,
        processed_at: opt_time(row, 6)?,
        attempts: count(row.try_get(7)?),
        last_attempted_at: opt_time(row, 8)?,
        backoff_request_seconds: row.try_get::<Option<i32>, _>(9)?.map(i64::from),
        results: results
            .map(|r| parse_json(Some(&r)).map(Arc::new))
            .transpose()?,
        skippable: row.try_get(11)?,
        created_at: time(row, 12)?,
        updated_at: time(row, 13)?,
    })
}
