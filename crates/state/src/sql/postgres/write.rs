//! Writing a checked batch to PostgreSQL: one write per table and kind of write, each over
//! parallel arrays (`UNNEST($1::int8[], $2::text[], …)`), all of them data-modifying CTEs
//! of one statement ([`Statement`]), so a batch of any size is one round trip and, being one
//! statement, atomic without a transaction around it.
//!
//! The checks the database makes (a head the plan relied on is still there, every update
//! found its row) are counts of `RETURNING` rows compared in the statement's final
//! `SELECT`: a disagreement divides by zero there, which aborts the statement (nothing of it
//! is written) and reads as `WriteError::Stale`. The final `SELECT` runs before the CTEs
//! nobody reads (the inserts) and before the foreign-key checks at the end of the
//! statement, so a stale head is reported as stale, not as the error it causes later.
//!
//! All CTEs see the rows as they were when the statement started; an insert that must come
//! after an update of the same table (a new `most_recent` transition after the flip of the
//! old one, for the partial unique index) waits for it by reading its count.

use super::claims::WORK_CHANNEL;
use super::durable::flush_wal;
use super::pooling::prepared;
use super::statement::{times, Statement};
use crate::sql::codec::{backoff_column, int_column, json_text, to_naive};
use crate::sql::dialect::WriteError;
use crate::sql::plan::{insert_transitions_into, HeadCheck, Plan, TransitionRow};
use crate::store::Durability;
use chrono::NaiveDateTime;
use sqlx::postgres::PgConnection;
use tasker_model::State;

/// `WHERE` clause making an insert wait for the CTE `name` (an update of the same table).
fn after(name: &Option<String>) -> String {
    match name {
        Some(n) => format!("WHERE (SELECT count(*) FROM {n}) >= 0"),
        None => String::new(),
    }
}

/// Clearing `most_recent` on the heads of history table `$table` (owned by `$owner`) that
/// the checks saw, counting the rows so that every one must still be there.
///
/// The head is found by the unique (owner, most_recent) index; its sort_key is only checked.
/// `t.sort_key + 0` keeps it a check: Tasker's schema also indexes `sort_key` alone, and with
/// statistics stale the planner ANDed that index in, reading every transition with the same
/// sort_key (half of all rows: 9 ms per batch at 200,000 stored tasks, growing with them).
macro_rules! flip_sql {
    ($table:literal, $owner:literal) => {
        concat!(
            "UPDATE ",
            $table,
            " t SET most_recent = false, updated_at = u.at \
             FROM UNNEST($1::int8[], $2::int4[], $3::timestamp[]) AS u(owner, sort_key, at) \
             WHERE t.",
            $owner,
            " = u.owner AND t.sort_key + 0 = u.sort_key AND t.most_recent \
             RETURNING 1"
        )
    };
}

/// The insert of new rows into history table `$table` (owned by `$owner`), up to where
/// [`after`] and the ordering follow.
macro_rules! insert_transitions_sql {
    ($table:literal, $owner:literal) => {
        concat!(
            insert_transitions_into!($table, $owner),
            "SELECT u.to_state, u.from_state, u.metadata::jsonb, u.sort_key, u.most_recent, \
                u.owner, u.at, u.at \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int4[], $5::bool[], $6::int8[], \
                $7::timestamp[]) WITH ORDINALITY \
                AS u(to_state, from_state, metadata, sort_key, most_recent, owner, at, n) "
        )
    };
}

/// What a batch's statement does with claims (see `claims.rs`).
pub(super) struct Claiming {
    /// This store's owner key.
    pub(super) owner: i32,
    /// Whether the tasks the batch creates are claimed for this store (a client's are left
    /// unclaimed for workers, who are woken by a NOTIFY on commit).
    pub(super) claim_new: bool,
    /// (task_id, token) of the held tasks the batch touches: each must still be this
    /// store's with that token.
    pub(super) fence: Vec<(i64, i64)>,
}

/// Writes a checked plan as one statement, in autocommit: it is atomic by itself.
pub(super) async fn write(
    conn: &mut PgConnection,
    plan: &Plan,
    claiming: &Claiming,
    durability: Durability,
) -> Result<(), WriteError> {
    let mut st = Statement::default();
    // Its transaction then commits without waiting for its WAL flush, which on a real disk
    // is most of a small batch's time; the next durable commit flushes it too (WAL is
    // flushed in order). See `Durability`.
    st.deferred = durability == Durability::Deferred;
    fence(&mut st, claiming.owner, &claiming.fence)?;
    insert_tasks(&mut st, plan)?;
    insert_steps(&mut st, plan)?;
    if !plan.edges.is_empty() {
        st.bind_column(&plan.edges, |e| e.0 .0)?;
        st.bind_column(&plan.edges, |e| e.1 .0)?;
        st.bind(times(&plan.edges, |e| e.2))?;
        st.cte(
            "INSERT INTO tasker_workflow_step_edges (from_step_id, to_step_id, name, created_at, \
                updated_at) \
             SELECT u.parent, u.child, 'provides', u.at, u.at \
             FROM UNNEST($1::int8[], $2::int8[], $3::timestamp[]) WITH ORDINALITY \
                AS u(parent, child, at, n) \
             ORDER BY u.n",
            3,
        );
    }
    history(
        &mut st,
        &plan.task_flips,
        &plan.task_transitions,
        flip_sql!("tasker_task_transitions", "task_id"),
        insert_transitions_sql!("tasker_task_transitions", "task_id"),
    )?;
    history(
        &mut st,
        &plan.step_flips,
        &plan.step_transitions,
        flip_sql!("tasker_workflow_step_transitions", "workflow_step_id"),
        insert_transitions_sql!("tasker_workflow_step_transitions", "workflow_step_id"),
    )?;
    update_tasks(&mut st, plan)?;
    update_steps(&mut st, plan)?;
    check_steps(&mut st, &plan.step_checks)?;
    claims(&mut st, plan, claiming)?;
    if st.is_empty() {
        // Nothing to write, but a durable batch promises that what came before it is on
        // disk. (A restart since is not looked for here: the next flush's `make_durable`
        // reports it.)
        if durability == Durability::Now {
            flush_wal(conn, claiming.owner).await?;
        }
        return Ok(());
    }
    // The writer's connections reuse one generic plan per statement shape (`mod.rs`), which
    // is right for the small batches of a steady flow: planning the statement for its own
    // arrays costs ~0.4 ms, a third of a small batch. A batch this large goes back to
    // PostgreSQL's own choice (`auto`: planned for its arrays, whose row counts change the
    // plan's shape; 0.4 ms is nothing beside its write). Not `force_custom_plan`: the
    // foreign-key triggers' lookups, run once per inserted row, are cached plans too, and
    // planning each of them again took this batch from ~20 to ~45 µs a row
    // (`auto_explain`, 2,000 chains at once). The setting goes back once the statement is done.
    let custom = prepared() && rows(plan) >= CUSTOM_PLAN_ROWS;
    if custom {
        set_plan_cache_mode(conn, "auto").await?;
    }
    let written = st.run(conn).await;
    if custom {
        // Not an error of the write, which has committed or failed by now: a connection
        // left planning per call is only slower, and a broken one fails its next use.
        let _ = set_plan_cache_mode(conn, "force_generic_plan").await;
    }
    written
}

/// Rows from which a batch's statement is planned for its own arrays (see [`write`]).
const CUSTOM_PLAN_ROWS: usize = 256;

/// The rows a plan writes or checks, as the planner would count them.
fn rows(plan: &Plan) -> usize {
    plan.new_tasks.len()
        + plan.new_steps.len()
        + plan.edges.len()
        + plan.task_flips.len()
        + plan.task_transitions.len()
        + plan.task_updates.len()
        + plan.step_flips.len()
        + plan.step_transitions.len()
        + plan.step_updates.len()
        + plan.step_checks.len()
}

/// Sets this session's `plan_cache_mode` (outside any transaction, so it stays set).
async fn set_plan_cache_mode(
    conn: &mut PgConnection,
    mode: &'static str,
) -> Result<(), WriteError> {
    sqlx::query("SELECT set_config('plan_cache_mode', $1, false)")
        .bind(mode)
        .execute(conn)
        .await?;
    Ok(())
}

/// Locks the claims of the held tasks the batch touches (`FOR SHARE`: a takeover's update
/// waits for this statement, and one committed first is seen) and checks that every one is
/// still this store's, with the token it holds; a failure is `WriteError::Fenced`.
///
/// `owner + 0` here and in the claims' delete: the claims are found by task id only. On
/// `owner` the planner (a generic plan, statistics stale or absent) ANDs in the owner index,
/// whose range for this store holds every claim it made since the table's last vacuum (the
/// deleted ones' entries stay until then): a read that grew with the work done, 150,000
/// entries a task after 30,000 tasks (tests/plans_at_scale.rs).
fn fence(st: &mut Statement, owner: i32, fence: &[(i64, i64)]) -> Result<(), sqlx::Error> {
    if fence.is_empty() {
        return Ok(());
    }
    st.bind_column(fence, |f| f.0)?;
    st.bind_column(fence, |f| f.1)?;
    st.bind(owner)?;
    let claims = st.cte(
        "SELECT c.task_id FROM tasker_core_task_claims c \
         JOIN UNNEST($1::int8[], $2::int8[]) AS u(id, token) \
           ON c.task_id = u.id AND c.token = u.token \
         WHERE c.task_id = ANY($1::int8[]) AND c.owner + 0 = $3 FOR SHARE OF c",
        3,
    );
    let n = st.bind(fence.len() as i64)?;
    st.fence = Some(format!("(SELECT count(*) FROM {claims}) = ${n}::int8"));
    Ok(())
}

/// Claims the tasks the batch creates for `owner`, and gives back the ones it finishes
/// (see `claims.rs`): in the batch's statement, so a claim neither precedes its task nor
/// outlives its final transition. A task the batch both creates and finishes is not
/// claimed at all (the statement's delete would not see its insert).
fn claims(st: &mut Statement, plan: &Plan, claiming: &Claiming) -> Result<(), sqlx::Error> {
    let owner = claiming.owner;
    if !claiming.claim_new && !plan.created.is_empty() {
        st.bind(WORK_CHANNEL)?;
        let notify = st.cte("SELECT pg_notify($1, '')", 1);
        st.checks
            .push(format!("(SELECT count(*) FROM {notify}) = 1"));
    }
    let claimed: Vec<(i64, NaiveDateTime)> = plan
        .created
        .iter()
        .zip(&plan.new_tasks)
        .filter(|(t, _)| !plan.finished.contains(t))
        .map(|(t, row)| (t.0, to_naive(row.record.created_at)))
        .collect();
    if claiming.claim_new && !claimed.is_empty() {
        st.bind_column(&claimed, |c| c.0)?;
        st.bind(owner)?;
        st.bind_column(&claimed, |c| c.1)?;
        st.cte(
            "INSERT INTO tasker_core_task_claims (task_id, owner, claimed_at) \
             SELECT u.id, $2, u.at FROM UNNEST($1::int8[], $3::timestamp[]) AS u(id, at)",
            3,
        );
    }
    if !plan.finished.is_empty() {
        st.bind_column(&plan.finished, |t| t.0)?;
        st.bind(owner)?;
        st.cte(
            "DELETE FROM tasker_core_task_claims WHERE task_id = ANY($1) AND owner + 0 = $2",
            2,
        );
    }
    Ok(())
}

fn insert_tasks(st: &mut Statement, plan: &Plan) -> Result<(), sqlx::Error> {
    let rows = &plan.new_tasks;
    if rows.is_empty() {
        return Ok(());
    }
    st.bind_column(rows, |t| t.record.task_id.0)?;
    st.bind_column(rows, |t| t.named_task_id)?;
    st.bind_column(rows, |t| t.record.complete)?;
    st.bind(times(rows, |t| t.record.requested_at))?;
    st.bind_column(rows, |t| t.record.initiator.clone())?;
    st.bind_column(rows, |t| t.record.source_system.clone())?;
    st.bind_column(rows, |t| t.record.reason.clone())?;
    st.bind_column(rows, |t| json_text(&t.record.tags))?;
    st.bind_column(rows, |t| json_text(&t.record.context))?;
    st.bind_column(rows, |t| t.identity_hash.clone())?;
    st.bind(times(rows, |t| t.record.created_at))?;
    st.bind(times(rows, |t| t.record.updated_at))?;
    st.cte(
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
        12,
    );
    insert_priorities(st, plan)
}

/// The non-zero priorities of the new tasks (`tasker_core_task_priorities`), in the task's
/// statement; nothing at all is bound when every new task has the default 0.
fn insert_priorities(st: &mut Statement, plan: &Plan) -> Result<(), sqlx::Error> {
    let rows: Vec<(i64, i32)> = plan
        .new_tasks
        .iter()
        .filter(|t| t.record.priority != 0)
        .map(|t| (t.record.task_id.0, t.record.priority))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    st.bind_column(&rows, |r| r.0)?;
    st.bind_column(&rows, |r| r.1)?;
    st.cte(
        "INSERT INTO tasker_core_task_priorities (task_id, priority) \
         SELECT u.id, u.priority FROM UNNEST($1::int8[], $2::int4[]) AS u(id, priority)",
        2,
    );
    Ok(())
}

fn insert_steps(st: &mut Statement, plan: &Plan) -> Result<(), sqlx::Error> {
    let rows = &plan.new_steps;
    if rows.is_empty() {
        return Ok(());
    }
    st.bind_column(rows, |s| s.record.step_id.0)?;
    st.bind_column(rows, |s| s.record.task_id.0)?;
    st.bind_column(rows, |s| s.named_step_id)?;
    st.bind_column(rows, |s| s.record.retryable)?;
    st.bind_column(rows, |s| int_column(s.record.retry_limit))?;
    st.bind_column(rows, |s| s.record.in_process)?;
    st.bind_column(rows, |s| s.record.processed)?;
    st.bind_column(rows, |s| s.record.processed_at.map(to_naive))?;
    st.bind_column(rows, |s| s.record.attempts.map(int_column))?;
    st.bind_column(rows, |s| s.record.last_attempted_at.map(to_naive))?;
    st.bind_column(rows, |s| {
        s.record.backoff_request_seconds.map(backoff_column)
    })?;
    st.bind_column(rows, |s| s.record.results.as_ref().map(|j| j.to_string()))?;
    st.bind_column(rows, |s| s.record.skippable)?;
    st.bind_column(rows, |s| to_naive(s.record.created_at))?;
    st.bind_column(rows, |s| to_naive(s.record.updated_at))?;
    st.cte(
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
        15,
    );
    Ok(())
}

/// One history table's part of the batch: the flip of its old heads, then its new rows,
/// which wait for the flip (the partial unique index allows one `most_recent` row).
fn history(
    st: &mut Statement,
    heads: &[HeadCheck],
    rows: &[TransitionRow],
    flip_sql: &'static str,
    insert_sql: &'static str,
) -> Result<(), sqlx::Error> {
    let flipped = flip(st, heads, flip_sql)?;
    insert_transitions(
        st,
        rows,
        &format!("{insert_sql}{} ORDER BY u.n", after(&flipped)),
    )
}

/// Clears `most_recent` on the heads the checks saw; every one must still be there.
/// Returns the CTE's name, for the insert that must follow it.
fn flip(
    st: &mut Statement,
    heads: &[HeadCheck],
    sql: &'static str,
) -> Result<Option<String>, sqlx::Error> {
    if heads.is_empty() {
        return Ok(None);
    }
    st.bind_column(heads, |h| h.owner)?;
    st.bind_column(heads, |h| h.sort_key)?;
    st.bind(times(heads, |h| h.at))?;
    st.counted_cte(sql, 3, heads.len()).map(Some)
}

fn insert_transitions(
    st: &mut Statement,
    rows: &[TransitionRow],
    sql: &str,
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    st.bind_column(rows, |t| t.to.as_str())?;
    st.bind_column(rows, |t| t.from.map(State::as_str))?;
    st.bind_column(rows, |t| t.metadata.as_str())?;
    st.bind_column(rows, |t| t.sort_key)?;
    st.bind_column(rows, |t| t.most_recent)?;
    st.bind_column(rows, |t| t.owner)?;
    st.bind(times(rows, |t| t.at))?;
    st.cte(sql, 7);
    Ok(())
}

fn update_tasks(st: &mut Statement, plan: &Plan) -> Result<(), sqlx::Error> {
    let rows = &plan.task_updates;
    if rows.is_empty() {
        return Ok(());
    }
    st.bind_column(rows, |u| u.task_id.0)?;
    st.bind_column(rows, |u| u.complete)?;
    st.bind(times(rows, |u| u.at))?;
    st.counted_cte(
        "UPDATE tasker_tasks t SET complete = COALESCE(u.complete, t.complete), \
            updated_at = u.at \
         FROM UNNEST($1::int8[], $2::bool[], $3::timestamp[]) AS u(id, complete, at) \
         WHERE t.task_id = u.id \
         RETURNING 1",
        3,
        rows.len(),
    )?;
    Ok(())
}

fn update_steps(st: &mut Statement, plan: &Plan) -> Result<(), sqlx::Error> {
    let rows = &plan.step_updates;
    if rows.is_empty() {
        return Ok(());
    }
    st.bind_column(rows, |u| u.step_id.0)?;
    st.bind_column(rows, |u| u.patch.in_process)?;
    st.bind_column(rows, |u| u.patch.processed)?;
    st.bind_column(rows, |u| u.patch.retryable)?;
    st.bind_column(rows, |u| u.patch.processed_at.map(to_naive))?;
    st.bind_column(rows, |u| u.patch.attempts.map(int_column))?;
    st.bind_column(rows, |u| u.patch.retry_limit.map(int_column))?;
    st.bind_column(rows, |u| u.patch.last_attempted_at.map(to_naive))?;
    st.bind_column(rows, |u| u.patch.backoff_request_seconds.is_some())?;
    st.bind_column(rows, |u| {
        u.patch
            .backoff_request_seconds
            .flatten()
            .map(backoff_column)
    })?;
    st.bind_column(rows, |u| u.patch.results.as_ref().map(|j| j.to_string()))?;
    st.bind(times(rows, |u| u.at))?;
    st.counted_cte(
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
         WHERE s.workflow_step_id = u.id \
         RETURNING 1",
        12,
        rows.len(),
    )?;
    Ok(())
}

/// `expect_sort_key` checks no flip verifies: the database must show the same head (as
/// the statement starts, before its own flips).
fn check_steps(st: &mut Statement, checks: &[HeadCheck]) -> Result<(), sqlx::Error> {
    if checks.is_empty() {
        return Ok(());
    }
    st.bind_column(checks, |c| c.owner)?;
    st.bind_column(checks, |c| c.sort_key)?;
    st.bind(checks.len() as i64)?;
    let sql = st.renumber(
        "(SELECT count(*) FROM UNNEST($1::int8[], $2::int4[]) AS u(id, sort_key) \
          WHERE COALESCE((SELECT tr.sort_key FROM tasker_workflow_step_transitions tr \
                          WHERE tr.workflow_step_id = u.id AND tr.most_recent), 0) \
                = u.sort_key) = $3::int8",
        3,
    );
    st.checks.push(sql);
    Ok(())
}
