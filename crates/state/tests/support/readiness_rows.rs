//! The readiness cross-check's database side: a random task written as Tasker rows, the SQL
//! function's answer read back, and the comparison with the resolver's answer.

use super::random_task::{Case, BASE_SECS, SECOND};
use chrono::NaiveDateTime;
use sqlx::postgres::PgConnection;
use sqlx::Row;
use std::collections::BTreeSet;
use std::fmt::{Display, Write as _};
use tasker_model::{State, Timestamp};
use tasker_resolver::readiness::{StepReadiness, StepSnapshot};

/// A `Timestamp` as the `timestamp without time zone` (UTC) the tables hold.
pub fn naive(t: Timestamp) -> NaiveDateTime {
    chrono::DateTime::from_timestamp_micros(t.0)
        .expect("test times are in range")
        .naive_utc()
}

fn micros(t: NaiveDateTime) -> Timestamp {
    Timestamp(t.and_utc().timestamp_micros())
}

/// Rows every case shares: a namespace, a dependent system, a named task, the named steps.
pub async fn insert_shared_rows(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    let at = naive(Timestamp(BASE_SECS * SECOND));
    for sql in [
        "INSERT INTO tasker_task_namespaces (task_namespace_id, name, created_at, updated_at) \
         VALUES (1, 'crosscheck', $1, $1)",
        "INSERT INTO tasker_dependent_systems (dependent_system_id, name, created_at, updated_at) \
         VALUES (1, 'crosscheck', $1, $1)",
        "INSERT INTO tasker_named_tasks \
         (named_task_id, name, task_namespace_id, version, created_at, updated_at) \
         VALUES (1, 'crosscheck', 1, '1.0.0', $1, $1)",
        "INSERT INTO tasker_named_steps \
         (named_step_id, dependent_system_id, name, created_at, updated_at) \
         SELECT g + 1, 1, 'step_' || g, $1, $1 FROM generate_series(0, 11) AS g",
    ] {
        sqlx::query(sql).bind(at).execute(&mut *conn).await?;
    }
    Ok(())
}

/// One field of every step, as the array bound to one UNNEST parameter.
fn column<T>(snaps: &[&StepSnapshot], field: impl Fn(&StepSnapshot) -> T) -> Vec<T> {
    snaps.iter().map(|s| field(s)).collect()
}

/// Writes one case: its task, steps, edges and transitions (one statement per table).
pub async fn insert_case(conn: &mut PgConnection, case: &Case) -> Result<(), sqlx::Error> {
    let at = naive(case.now);
    sqlx::query(
        "INSERT INTO tasker_tasks \
         (task_id, named_task_id, requested_at, identity_hash, context, created_at, updated_at) \
         VALUES ($1, 1, $2, $3, '{}'::jsonb, $2, $2)",
    )
    .bind(case.task_id())
    .bind(at)
    .bind(format!("crosscheck-{}", case.number))
    .execute(&mut *conn)
    .await?;

    let n = case.steps.len();
    let ids: Vec<i64> = (0..n).map(|i| case.step_id(i)).collect();
    let named: Vec<i64> = (0..n).map(|i| i as i64 + 1).collect();
    let snaps: Vec<&StepSnapshot> = case.steps.iter().map(|s| &s.snapshot).collect();
    let to_i32 = |v: u32| i32::try_from(v).expect("test values fit an integer column");
    sqlx::query(
        "INSERT INTO tasker_workflow_steps \
         (workflow_step_id, task_id, named_step_id, retryable, retry_limit, in_process, \
          processed, attempts, last_attempted_at, backoff_request_seconds, created_at, updated_at) \
         SELECT u.id, $1, u.named, u.retryable, u.retry_limit, u.in_process, u.processed, \
                u.attempts, u.last_attempted_at, u.backoff, $2, $2 \
         FROM UNNEST($3::bigint[], $4::bigint[], $5::boolean[], $6::integer[], $7::boolean[], \
                     $8::boolean[], $9::integer[], $10::timestamp[], $11::integer[]) \
              AS u(id, named, retryable, retry_limit, in_process, processed, attempts, \
                   last_attempted_at, backoff)",
    )
    .bind(case.task_id())
    .bind(at)
    .bind(&ids)
    .bind(&named)
    .bind(column(&snaps, |s| s.retryable))
    .bind(column(&snaps, |s| s.retry_limit.map(to_i32)))
    .bind(column(&snaps, |s| s.in_process))
    .bind(column(&snaps, |s| s.processed))
    .bind(column(&snaps, |s| s.attempts.map(to_i32)))
    .bind(column(&snaps, |s| s.last_attempted_at.map(naive)))
    .bind(column(&snaps, |s| {
        s.backoff_request_seconds.map(|b| b as i32)
    }))
    .execute(&mut *conn)
    .await?;

    let (mut from, mut to) = (Vec::new(), Vec::new());
    for (child, s) in case.steps.iter().enumerate() {
        for &parent in &s.parents {
            from.push(case.step_id(parent));
            to.push(case.step_id(child));
        }
    }
    sqlx::query(
        "INSERT INTO tasker_workflow_step_edges (from_step_id, to_step_id, name, created_at, updated_at) \
         SELECT f, t, 'provides', $1, $1 FROM UNNEST($2::bigint[], $3::bigint[]) AS u(f, t)",
    )
    .bind(at)
    .bind(&from)
    .bind(&to)
    .execute(&mut *conn)
    .await?;

    let mut tr = Transitions::default();
    for (i, s) in case.steps.iter().enumerate() {
        let Some(entered) = s.snapshot.state_entered_at else {
            continue;
        };
        let mut previous: Option<State> = None;
        let rows = s.history.iter().map(|&(st, t)| (st, t, false)).chain([(
            s.snapshot.state,
            entered,
            true,
        )]);
        let last = s.history.len() as i32 + 1;
        for (n, (state, created, most_recent)) in rows.enumerate() {
            let sort_key = match (s.current_sorts_first, most_recent) {
                (false, _) => n as i32 + 1,
                (true, true) => 1,
                (true, false) => last - n as i32,
            };
            tr.step.push(case.step_id(i));
            tr.to_state.push(state.as_str());
            tr.from_state.push(previous.map(State::as_str));
            tr.sort_key.push(sort_key);
            tr.most_recent.push(most_recent);
            tr.created_at.push(naive(created));
            previous = Some(state);
        }
    }
    sqlx::query(
        "INSERT INTO tasker_workflow_step_transitions \
         (workflow_step_id, to_state, from_state, metadata, sort_key, most_recent, created_at, updated_at) \
         SELECT u.step, u.to_state, u.from_state, '{}'::jsonb, u.sort_key, u.most_recent, u.at, u.at \
         FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::integer[], $5::boolean[], \
                     $6::timestamp[]) AS u(step, to_state, from_state, sort_key, most_recent, at)",
    )
    .bind(&tr.step)
    .bind(&tr.to_state)
    .bind(&tr.from_state)
    .bind(&tr.sort_key)
    .bind(&tr.most_recent)
    .bind(&tr.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Column arrays of one case's transition rows.
#[derive(Default)]
struct Transitions {
    step: Vec<i64>,
    to_state: Vec<&'static str>,
    from_state: Vec<Option<&'static str>>,
    sort_key: Vec<i32>,
    most_recent: Vec<bool>,
    created_at: Vec<NaiveDateTime>,
}

/// One row of `tasker_core_step_readiness`.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlReadiness {
    pub workflow_step_id: i64,
    pub current_state: String,
    pub dependencies_satisfied: bool,
    pub retry_eligible: bool,
    pub ready_for_execution: bool,
    pub next_retry_at: Option<Timestamp>,
}

pub async fn sql_readiness(
    conn: &mut PgConnection,
    case: &Case,
) -> Result<Vec<SqlReadiness>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT workflow_step_id, current_state, dependencies_satisfied, retry_eligible, \
                ready_for_execution, next_retry_at \
         FROM tasker_core_step_readiness($1, $2)",
    )
    .bind(case.task_id())
    .bind(naive(case.now))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(SqlReadiness {
                workflow_step_id: r.try_get(0)?,
                current_state: r.try_get(1)?,
                dependencies_satisfied: r.try_get(2)?,
                retry_eligible: r.try_get(3)?,
                ready_for_execution: r.try_get(4)?,
                next_retry_at: r.try_get::<Option<NaiveDateTime>, _>(5)?.map(micros),
            })
        })
        .collect()
}

// Comparing

/// The differences between the two answers for one case; empty when they agree.
pub fn differences(case: &Case, sql: &[SqlReadiness], rust: &[StepReadiness]) -> Vec<String> {
    let mut out = Vec::new();
    let ids: Vec<i64> = (0..case.steps.len()).map(|i| case.step_id(i)).collect();
    let got: Vec<i64> = sql.iter().map(|r| r.workflow_step_id).collect();
    if got.iter().collect::<BTreeSet<_>>() != ids.iter().collect::<BTreeSet<_>>()
        || got.len() != ids.len()
    {
        out.push(format!("SQL returned steps {got:?}, the task has {ids:?}"));
        return out;
    }
    for (i, r) in rust.iter().enumerate() {
        let s = sql
            .iter()
            .find(|row| row.workflow_step_id == ids[i])
            .expect("checked above");
        let step = &case.steps[i];
        let mut field = |name: &str, sql_v: &dyn Display, rust_v: &dyn Display| {
            let (sql_v, rust_v) = (sql_v.to_string(), rust_v.to_string());
            if sql_v != rust_v {
                out.push(format!(
                    "{} ({}): {name}: SQL {sql_v}, Rust {rust_v}",
                    step.name, ids[i]
                ));
            }
        };
        field(
            "current_state",
            &s.current_state,
            &step.snapshot.state.as_str(),
        );
        field("ready", &s.ready_for_execution, &r.ready);
        field(
            "dependencies_satisfied",
            &s.dependencies_satisfied,
            &r.dependencies_satisfied,
        );
        field("retry_eligible", &s.retry_eligible, &r.retry_eligible);
        field(
            "next_retry_at",
            &show_time(s.next_retry_at, case.now),
            &show_time(r.next_retry_at, case.now),
        );
    }
    out
}

/// A time as microseconds and relative to `now`, so boundary cases read at a glance.
fn show_time(t: Option<Timestamp>, now: Timestamp) -> String {
    match t {
        None => "none".to_string(),
        Some(t) => format!("{t} ({}us, now{:+}us)", t.0, t.0 - now.0),
    }
}

/// Everything about a case, for a failure message.
pub fn describe(
    seed: u64,
    case: &Case,
    sql: &[SqlReadiness],
    rust: &[StepReadiness],
    diffs: &[String],
) -> String {
    let mut d = String::new();
    let _ = writeln!(
        d,
        "==== case {} (seed {seed}, task_id {}), now = {} ({}us)",
        case.number,
        case.task_id(),
        case.now,
        case.now.0
    );
    for line in diffs {
        let _ = writeln!(d, "MISMATCH {line}");
    }
    let _ = writeln!(d, "-- template:\n{}", case.yaml);
    for (i, s) in case.steps.iter().enumerate() {
        let parents: Vec<&str> = s
            .parents
            .iter()
            .map(|&p| case.steps[p].name.as_str())
            .collect();
        let n = &s.snapshot;
        let _ = writeln!(
            d,
            "-- {} (id {}), parents {parents:?}\n   state {} entered {}; history {:?}{}\n   \
             processed {} in_process {} retryable {} attempts {:?} retry_limit {:?}\n   \
             backoff_request_seconds {:?} last_attempted_at {}",
            s.name,
            case.step_id(i),
            n.state,
            show_time(n.state_entered_at, case.now),
            s.history
                .iter()
                .map(|(st, t)| format!("{st}@now{:+}us", t.0 - case.now.0))
                .collect::<Vec<_>>(),
            if s.current_sorts_first {
                " (current row has the lowest sort_key)"
            } else {
                ""
            },
            n.processed,
            n.in_process,
            n.retryable,
            n.attempts,
            n.retry_limit,
            n.backoff_request_seconds,
            show_time(n.last_attempted_at, case.now),
        );
        if let Some(row) = sql.iter().find(|r| r.workflow_step_id == case.step_id(i)) {
            let _ = writeln!(d, "   SQL  {row:?}");
        }
        if let Some(r) = rust.get(i) {
            let _ = writeln!(d, "   Rust {r:?}");
        }
    }
    d
}
