//! Reading rows back, for both databases: a task with its steps and history, and the history
//! heads a batch's checks need. The statements are the dialect's ([`Statements`](crate::sql::dialect::Statements)); the rows
//! are turned into records here, once. Must not write.

use crate::records::{StepRecord, TaskRecord, TransitionRecord};
use crate::sql::codec::{count, meta_from_json, parse_json, parse_state, ReadError};
use crate::sql::dialect::{Dialect, Param, ReadRow};
use crate::sql::plan::{Head, Loaded, Wanted};
use crate::sql::view::TaskRows;
use sqlx::{Database, Pool, Transaction};
use std::sync::Arc;
use tasker_model::{State, StepId, TaskId, TemplateKey};

/// Begins a transaction with `begin` (`None`: the pool's plain `BEGIN`).
pub(crate) async fn begin<DB: Database>(
    pool: &Pool<DB>,
    begin: Option<&'static str>,
) -> Result<Transaction<'static, DB>, sqlx::Error> {
    match begin {
        Some(sql) => pool.begin_with(sql).await,
        None => pool.begin().await,
    }
}

/// The rows of task `id`, read in one snapshot (`Statements::begin_snapshot`): a commit
/// landing meanwhile is seen whole or not at all.
pub(crate) async fn task<D: Dialect>(db: &D, id: TaskId) -> Result<Option<TaskRows>, ReadError> {
    let sql = &D::SQL.read;
    let params = [Param::Int(id.0)];
    let mut tx = begin(db.pool(), D::SQL.begin_snapshot).await?;
    let rows = D::rows(&mut tx, sql.task, &params).await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let task = task_record(row, id)?;
    let named_task_id: i64 = row.get(0)?;

    let transitions = D::rows(&mut tx, sql.transitions, &params)
        .await?
        .iter()
        .map(|r| transition(r).map(|(_, t)| t))
        .collect::<Result<Vec<_>, _>>()?;
    let steps = D::rows(&mut tx, sql.steps, &params)
        .await?
        .iter()
        .map(|r| step(r, id))
        .collect::<Result<Vec<_>, _>>()?;
    // The history and edges by the step ids just read (see `TaskReads`): their plans do not
    // depend on statistics.
    let step_ids = [Param::Ids(steps.iter().map(|s| s.step_id.0).collect())];
    let step_transitions = D::rows(&mut tx, sql.step_transitions, &step_ids)
        .await?
        .iter()
        .map(|r| transition(r).map(|(s, t)| (StepId(s), t)))
        .collect::<Result<Vec<_>, _>>()?;
    let edges = D::rows(&mut tx, sql.edges, &step_ids)
        .await?
        .iter()
        .map(|r| Ok((StepId(r.get(0)?), StepId(r.get(1)?))))
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

/// A task from `named_task_id, namespace, name, version, context, initiator, source_system,
/// reason, tags, complete, requested_at, created_at, updated_at, priority`.
fn task_record(row: &impl ReadRow, id: TaskId) -> Result<TaskRecord, ReadError> {
    Ok(TaskRecord {
        task_id: id,
        template: TemplateKey {
            namespace: row.get(1)?,
            name: row.get(2)?,
            version: row.get(3)?,
        },
        context: Arc::new(parse_json(row.get::<Option<String>>(4)?.as_deref())?),
        initiator: row.get(5)?,
        source_system: row.get(6)?,
        reason: row.get(7)?,
        tags: parse_json(row.get::<Option<String>>(8)?.as_deref())?,
        complete: row.get(9)?,
        requested_at: row.time(10)?,
        created_at: row.time(11)?,
        updated_at: row.time(12)?,
        // Written from an i32 (`write.rs`), so it fits.
        priority: row.opt_int(13)?.unwrap_or(0) as i32,
    })
}

/// (owner, transition) from `owner, from_state, to_state, metadata, sort_key, most_recent,
/// created_at`.
fn transition(row: &impl ReadRow) -> Result<(i64, TransitionRecord), ReadError> {
    let from: Option<String> = row.get(1)?;
    Ok((
        row.get(0)?,
        TransitionRecord {
            from_state: from.as_deref().map(parse_state).transpose()?,
            to_state: parse_state(&row.get::<String>(2)?)?,
            meta: meta_from_json(parse_json(row.get::<Option<String>>(3)?.as_deref())?),
            sort_key: row.get(4)?,
            most_recent: row.get(5)?,
            created_at: row.time(6)?,
        },
    ))
}

/// A step from `workflow_step_id, name, retryable, retry_limit, in_process, processed,
/// processed_at, attempts, last_attempted_at, backoff_request_seconds, results, skippable,
/// created_at, updated_at`.
fn step(row: &impl ReadRow, task_id: TaskId) -> Result<StepRecord, ReadError> {
    let results: Option<String> = row.get(10)?;
    Ok(StepRecord {
        step_id: StepId(row.get(0)?),
        task_id,
        name: Arc::from(row.get::<String>(1)?),
        template_index: 0,
        retryable: row.get(2)?,
        retry_limit: count(row.get(3)?).unwrap_or(3),
        in_process: row.get(4)?,
        processed: row.get(5)?,
        processed_at: row.opt_time(6)?,
        attempts: count(row.get(7)?),
        last_attempted_at: row.opt_time(8)?,
        backoff_request_seconds: row.opt_int(9)?,
        results: results
            .map(|r| parse_json(Some(&r)).map(Arc::new))
            .transpose()?,
        skippable: row.get(11)?,
        created_at: row.time(12)?,
        updated_at: row.time(13)?,
    })
}

/// Heads of the wanted tasks and steps that exist (a missing one is missing from `Loaded`),
/// read on the batch's own connection.
pub(crate) async fn load_heads<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    wanted: &Wanted,
) -> Result<Loaded, sqlx::Error> {
    let mut loaded = Loaded::default();
    if !wanted.tasks.is_empty() {
        let ids = [Param::Ids(wanted.tasks.iter().map(|t| t.0).collect())];
        for r in D::rows(conn, D::SQL.task_heads, &ids).await? {
            let head = head(r.get(1)?, r.get(2)?)?;
            loaded.tasks.insert(TaskId(r.get(0)?), head);
        }
    }
    if !wanted.steps.is_empty() {
        let ids = [Param::Ids(wanted.steps.iter().map(|s| s.0).collect())];
        for r in D::rows(conn, D::SQL.step_heads, &ids).await? {
            let head = head(r.get(2)?, r.get(3)?)?;
            loaded
                .steps
                .insert(StepId(r.get(0)?), (TaskId(r.get(1)?), head));
        }
    }
    Ok(loaded)
}

/// A head from a LEFT JOINed most_recent transition (none: pending at sort_key 0).
fn head(state: Option<String>, sort_key: Option<i32>) -> Result<Head, sqlx::Error> {
    match state {
        None => Ok((State::Pending, 0)),
        Some(s) => Ok((
            parse_state(&s).map_err(|e| sqlx::Error::Decode(e.to_string().into()))?,
            sort_key.unwrap_or(0),
        )),
    }
}
