//! Writing a checked batch to PostgreSQL: one statement per table and kind of write, each
//! over parallel arrays (`UNNEST($1::int8[], $2::text[], …)`), so a batch of thousands of
//! changes is a handful of round trips.

use crate::sql::codec::{
    backoff_column, int_column, is_history_conflict, json_text, parse_state, to_naive,
};
use crate::sql::plan::{self, HeadCheck, Loaded, Plan, TransitionRow, Wanted};
use chrono::NaiveDateTime;
use sqlx::{Postgres, Row, Transaction};
use tasker_model::{State, StepId, TaskId};

type Tx = Transaction<'static, Postgres>;

/// Heads of the wanted tasks and steps that exist (a missing one is missing from `Loaded`).
pub(super) async fn load_heads(tx: &mut Tx, wanted: &Wanted) -> Result<Loaded, sqlx::Error> {
    let mut loaded = Loaded::default();
    if !wanted.tasks.is_empty() {
        let rows = sqlx::query(
            "SELECT t.task_id, tr.to_state, tr.sort_key FROM tasker_tasks t \
             LEFT JOIN tasker_task_transitions tr ON tr.task_id = t.task_id AND tr.most_recent \
             WHERE t.task_id = ANY($1)",
        )
        .bind(wanted.tasks.iter().map(|t| t.0).collect::<Vec<_>>())
        .fetch_all(&mut **tx)
        .await?;
        for r in rows {
            let head = head(r.try_get(1)?, r.try_get(2)?)?;
            loaded.tasks.insert(TaskId(r.try_get(0)?), head);
        }
    }
    if !wanted.steps.is_empty() {
        let rows = sqlx::query(
            "SELECT ws.workflow_step_id, ws.task_id, tr.to_state, tr.sort_key \
             FROM tasker_workflow_steps ws \
             LEFT JOIN tasker_workflow_step_transitions tr \
               ON tr.workflow_step_id = ws.workflow_step_id AND tr.most_recent \
             WHERE ws.workflow_step_id = ANY($1)",
        )
        .bind(wanted.steps.iter().map(|s| s.0).collect::<Vec<_>>())
        .fetch_all(&mut **tx)
        .await?;
        for r in rows {
            let head = head(r.try_get(2)?, r.try_get(3)?)?;
            loaded
                .steps
                .insert(StepId(r.try_get(0)?), (TaskId(r.try_get(1)?), head));
        }
    }
    Ok(loaded)
}

/// A head from a LEFT JOINed most_recent transition (none: pending at sort_key 0).
fn head(state: Option<String>, sort_key: Option<i32>) -> Result<plan::Head, sqlx::Error> {
    match state {
        None => Ok((State::Pending, 0)),
        Some(s) => Ok((
            parse_state(&s).map_err(|e| sqlx::Error::Decode(e.to_string().into()))?,
            sort_key.unwrap_or(0),
        )),
    }
}

pub(super) enum WriteError {
    /// The database disagrees with a head the checks used.
    Stale,
    Sql(sqlx::Error),
}

impl From<sqlx::Error> for WriteError {
    fn from(e: sqlx::Error) -> Self {
        // A duplicate key on a history table: someone else appended to it (the cache said
        // otherwise). A duplicate task or step id is the batch's fault.
        if is_history_conflict(&e) {
            WriteError::Stale
        } else {
            WriteError::Sql(e)
        }
    }
}

fn times<T>(rows: &[T], f: impl Fn(&T) -> tasker_model::Timestamp) -> Vec<NaiveDateTime> {
    rows.iter().map(|r| to_naive(f(r))).collect()
}

/// Writes a checked plan inside `tx`.
pub(super) async fn write(tx: &mut Tx, plan: &Plan, owner: i32) -> Result<(), WriteError> {
    insert_tasks(tx, plan).await?;
    insert_steps(tx, plan).await?;
    if !plan.edges.is_empty() {
        sqlx::query(
            "INSERT INTO tasker_workflow_step_edges (from_step_id, to_step_id, name, created_at, \
                updated_at) \
             SELECT u.parent, u.child, 'provides', u.at, u.at \
             FROM UNNEST($1::int8[], $2::int8[], $3::timestamp[]) WITH ORDINALITY \
                AS u(parent, child, at, n) \
             ORDER BY u.n",
        )
        .bind(plan.edges.iter().map(|e| e.0 .0).collect::<Vec<_>>())
        .bind(plan.edges.iter().map(|e| e.1 .0).collect::<Vec<_>>())
        .bind(times(&plan.edges, |e| e.2))
        .execute(&mut **tx)
        .await?;
    }
    flip(
        tx,
        &plan.task_flips,
        "UPDATE tasker_task_transitions t SET most_recent = false, updated_at = u.at \
         FROM UNNEST($1::int8[], $2::int4[], $3::timestamp[]) AS u(owner, sort_key, at) \
         WHERE t.task_id = u.owner AND t.sort_key = u.sort_key AND t.most_recent",
    )
    .await?;
    insert_transitions(
        tx,
        &plan.task_transitions,
        "INSERT INTO tasker_task_transitions (to_state, from_state, metadata, sort_key, \
            most_recent, task_id, created_at, updated_at) \
         SELECT u.to_state, u.from_state, u.metadata::jsonb, u.sort_key, u.most_recent, \
            u.owner, u.at, u.at \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int4[], $5::bool[], $6::int8[], \
            $7::timestamp[]) WITH ORDINALITY \
            AS u(to_state, from_state, metadata, sort_key, most_recent, owner, at, n) \
         ORDER BY u.n",
    )
    .await?;
    flip(
        tx,
        &plan.step_flips,
        "UPDATE tasker_workflow_step_transitions t SET most_recent = false, updated_at = u.at \
         FROM UNNEST($1::int8[], $2::int4[], $3::timestamp[]) AS u(owner, sort_key, at) \
         WHERE t.workflow_step_id = u.owner AND t.sort_key = u.sort_key AND t.most_recent",
    )
    .await?;
    insert_transitions(
        tx,
        &plan.step_transitions,
        "INSERT INTO tasker_workflow_step_transitions (to_state, from_state, metadata, \
            sort_key, most_recent, workflow_step_id, created_at, updated_at) \
         SELECT u.to_state, u.from_state, u.metadata::jsonb, u.sort_key, u.most_recent, \
            u.owner, u.at, u.at \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int4[], $5::bool[], $6::int8[], \
            $7::timestamp[]) WITH ORDINALITY \
            AS u(to_state, from_state, metadata, sort_key, most_recent, owner, at, n) \
         ORDER BY u.n",
    )
    .await?;
    update_tasks(tx, plan).await?;
    update_steps(tx, plan).await?;
    check_steps(tx, &plan.step_checks).await?;
    claims(tx, plan, owner).await
}

/// Claims the tasks the batch creates for `owner`, and gives back the ones it finishes
/// (see `claims.rs`): in the batch's transaction, so a claim neither precedes its task nor
/// outlives its final transition.
async fn claims(tx: &mut Tx, plan: &Plan, owner: i32) -> Result<(), WriteError> {
    if !plan.created.is_empty() {
        sqlx::query(
            "INSERT INTO tasker_core_task_claims (task_id, owner, claimed_at) \
             SELECT u.id, $2, u.at FROM UNNEST($1::int8[], $3::timestamp[]) AS u(id, at)",
        )
        .bind(plan.created.iter().map(|t| t.0).collect::<Vec<_>>())
        .bind(owner)
        .bind(times(&plan.new_tasks, |t| t.record.created_at))
        .execute(&mut **tx)
        .await?;
    }
    if !plan.finished.is_empty() {
        sqlx::query("DELETE FROM tasker_core_task_claims WHERE task_id = ANY($1) AND owner = $2")
            .bind(plan.finished.iter().map(|t| t.0).collect::<Vec<_>>())
            .bind(owner)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn insert_tasks(tx: &mut Tx, plan: &Plan) -> Result<(), WriteError> {
    let rows = &plan.new_tasks;
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO tasker_tasks (task_id, named_task_id, complete, requested_at, initiator, \
            source_system, reason, tags, context, identity_hash, created_at, updated_at) \
         SELECT u.id, u.named_task, u.complete, u.requested_at, u.initiator, u.source_system, \
            u.reason, u.tags::jsonb, u.context::jsonb, u.identity_hash, u.created_at, \
            u.updated_at \
         FROM UNNEST($1::int8[], $2::int8[], $3::bool[], $4::timestamp[], $5::text[], \
            $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::timestamp[], \
            $12::timestamp[]) \
            AS u(id, named_task, complete, requested_at, initiator, source_system, reason, \
                 tags, context, identity_hash, created_at, updated_at)",
    )
    .bind(rows.iter().map(|t| t.record.task_id.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|t| t.named_task_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|t| t.record.complete).collect::<Vec<_>>())
    .bind(times(rows, |t| t.record.requested_at))
    .bind(
        rows.iter()
            .map(|t| t.record.initiator.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|t| t.record.source_system.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|t| t.record.reason.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|t| json_text(&t.record.tags))
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|t| json_text(&t.record.context))
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|t| t.identity_hash.clone())
            .collect::<Vec<_>>(),
    )
    .bind(times(rows, |t| t.record.created_at))
    .bind(times(rows, |t| t.record.updated_at))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_steps(tx: &mut Tx, plan: &Plan) -> Result<(), WriteError> {
    let rows = &plan.new_steps;
    if rows.is_empty() {
        return Ok(());
    }
    let r = |i: usize| &rows[i].record;
    let n = rows.len();
    sqlx::query(
        "INSERT INTO tasker_workflow_steps (workflow_step_id, task_id, named_step_id, retryable, \
            retry_limit, in_process, processed, processed_at, attempts, last_attempted_at, \
            backoff_request_seconds, results, skippable, created_at, updated_at) \
         SELECT u.id, u.task_id, u.named_step_id, u.retryable, u.retry_limit, u.in_process, \
            u.processed, u.processed_at, u.attempts, u.last_attempted_at, u.backoff, \
            u.results::jsonb, u.skippable, u.created_at, u.updated_at \
         FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::bool[], $5::int4[], $6::bool[], \
            $7::bool[], $8::timestamp[], $9::int4[], $10::timestamp[], $11::int4[], \
            $12::text[], $13::bool[], $14::timestamp[], $15::timestamp[]) \
            AS u(id, task_id, named_step_id, retryable, retry_limit, in_process, processed, \
                 processed_at, attempts, last_attempted_at, backoff, results, skippable, \
                 created_at, updated_at)",
    )
    .bind((0..n).map(|i| r(i).step_id.0).collect::<Vec<_>>())
    .bind((0..n).map(|i| r(i).task_id.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|s| s.named_step_id).collect::<Vec<_>>())
    .bind((0..n).map(|i| r(i).retryable).collect::<Vec<_>>())
    .bind(
        (0..n)
            .map(|i| int_column(r(i).retry_limit))
            .collect::<Vec<_>>(),
    )
    .bind((0..n).map(|i| r(i).in_process).collect::<Vec<_>>())
    .bind((0..n).map(|i| r(i).processed).collect::<Vec<_>>())
    .bind(
        (0..n)
            .map(|i| r(i).processed_at.map(to_naive))
            .collect::<Vec<_>>(),
    )
    .bind(
        (0..n)
            .map(|i| r(i).attempts.map(int_column))
            .collect::<Vec<_>>(),
    )
    .bind(
        (0..n)
            .map(|i| r(i).last_attempted_at.map(to_naive))
            .collect::<Vec<_>>(),
    )
    .bind(
        (0..n)
            .map(|i| r(i).backoff_request_seconds.map(backoff_column))
            .collect::<Vec<_>>(),
    )
    .bind(
        (0..n)
            .map(|i| r(i).results.as_ref().map(|j| j.to_string()))
            .collect::<Vec<_>>(),
    )
    .bind((0..n).map(|i| r(i).skippable).collect::<Vec<_>>())
    .bind(
        (0..n)
            .map(|i| to_naive(r(i).created_at))
            .collect::<Vec<_>>(),
    )
    .bind(
        (0..n)
            .map(|i| to_naive(r(i).updated_at))
            .collect::<Vec<_>>(),
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Clears `most_recent` on the heads the checks saw; every one must still be there.
async fn flip(tx: &mut Tx, heads: &[HeadCheck], sql: &'static str) -> Result<(), WriteError> {
    if heads.is_empty() {
        return Ok(());
    }
    let done = sqlx::query(sql)
        .bind(heads.iter().map(|h| h.owner).collect::<Vec<_>>())
        .bind(heads.iter().map(|h| h.sort_key).collect::<Vec<_>>())
        .bind(times(heads, |h| h.at))
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() != heads.len() as u64 {
        return Err(WriteError::Stale);
    }
    Ok(())
}

async fn insert_transitions(
    tx: &mut Tx,
    rows: &[TransitionRow],
    sql: &'static str,
) -> Result<(), WriteError> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(sql)
        .bind(rows.iter().map(|t| t.to.as_str()).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|t| t.from.map(State::as_str))
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|t| t.metadata.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|t| t.sort_key).collect::<Vec<_>>())
        .bind(rows.iter().map(|t| t.most_recent).collect::<Vec<_>>())
        .bind(rows.iter().map(|t| t.owner).collect::<Vec<_>>())
        .bind(times(rows, |t| t.at))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn update_tasks(tx: &mut Tx, plan: &Plan) -> Result<(), WriteError> {
    let rows = &plan.task_updates;
    if rows.is_empty() {
        return Ok(());
    }
    let done = sqlx::query(
        "UPDATE tasker_tasks t SET complete = COALESCE(u.complete, t.complete), \
            updated_at = u.at \
         FROM UNNEST($1::int8[], $2::bool[], $3::timestamp[]) AS u(id, complete, at) \
         WHERE t.task_id = u.id",
    )
    .bind(rows.iter().map(|u| u.task_id.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|u| u.complete).collect::<Vec<_>>())
    .bind(times(rows, |u| u.at))
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != rows.len() as u64 {
        return Err(WriteError::Stale);
    }
    Ok(())
}

async fn update_steps(tx: &mut Tx, plan: &Plan) -> Result<(), WriteError> {
    let rows = &plan.step_updates;
    if rows.is_empty() {
        return Ok(());
    }
    let done = sqlx::query(
        "UPDATE tasker_workflow_steps s SET \
            in_process = COALESCE(u.in_process, s.in_process), \
            processed = COALESCE(u.processed, s.processed), \
            retryable = COALESCE(u.retryable, s.retryable), \
            processed_at = COALESCE(u.processed_at, s.processed_at), \
            attempts = COALESCE(u.attempts, s.attempts), \
            retry_limit = COALESCE(u.retry_limit, s.retry_limit), \
            last_attempted_at = COALESCE(u.last_attempted_at, s.last_attempted_at), \
            backoff_request_seconds = CASE WHEN u.set_backoff THEN u.backoff \
                ELSE s.backoff_request_seconds END, \
            results = COALESCE(u.results::jsonb, s.results), \
            updated_at = u.at \
         FROM UNNEST($1::int8[], $2::bool[], $3::bool[], $4::bool[], $5::timestamp[], \
            $6::int4[], $7::int4[], $8::timestamp[], $9::bool[], $10::int4[], $11::text[], \
            $12::timestamp[]) \
            AS u(id, in_process, processed, retryable, processed_at, attempts, retry_limit, \
                 last_attempted_at, set_backoff, backoff, results, at) \
         WHERE s.workflow_step_id = u.id",
    )
    .bind(rows.iter().map(|u| u.step_id.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|u| u.patch.in_process).collect::<Vec<_>>())
    .bind(rows.iter().map(|u| u.patch.processed).collect::<Vec<_>>())
    .bind(rows.iter().map(|u| u.patch.retryable).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|u| u.patch.processed_at.map(to_naive))
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|u| u.patch.attempts.map(int_column))
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|u| u.patch.retry_limit.map(int_column))
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|u| u.patch.last_attempted_at.map(to_naive))
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|u| u.patch.backoff_request_seconds.is_some())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|u| {
                u.patch
                    .backoff_request_seconds
                    .flatten()
                    .map(backoff_column)
            })
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|u| u.patch.results.as_ref().map(|j| j.to_string()))
            .collect::<Vec<_>>(),
    )
    .bind(times(rows, |u| u.at))
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != rows.len() as u64 {
        return Err(WriteError::Stale);
    }
    Ok(())
}

/// `expect_sort_key` checks no flip verifies: the database must show the same head.
async fn check_steps(tx: &mut Tx, checks: &[HeadCheck]) -> Result<(), WriteError> {
    if checks.is_empty() {
        return Ok(());
    }
    let agreeing: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM UNNEST($1::int8[], $2::int4[]) AS u(id, sort_key) \
         WHERE COALESCE((SELECT tr.sort_key FROM tasker_workflow_step_transitions tr \
                         WHERE tr.workflow_step_id = u.id AND tr.most_recent), 0) = u.sort_key",
    )
    .bind(checks.iter().map(|c| c.owner).collect::<Vec<_>>())
    .bind(checks.iter().map(|c| c.sort_key).collect::<Vec<_>>())
    .fetch_one(&mut **tx)
    .await?;
    if agreeing != checks.len() as i64 {
        return Err(WriteError::Stale);
    }
    Ok(())
}
