//! tasker-core's readiness, execution contexts and health counts against the rules of the
//! Tasker engine's SQL functions (issue 19), written here in Rust from what those functions
//! compute (`get_step_readiness_status`, `get_task_execution_context`,
//! `get_system_health_counts_v01`), NULLs included, over the rows tasker-core stored.
//!
//! The scenario, in PostgreSQL through `PostgresStore`: a complete task, a task in error with
//! an exhausted step, a running task with a step in error waiting out its backoff, a task with
//! no transition at all whose steps have NULL attempts (as tasker-core wrote new steps before
//! issue 19), and a started one whose steps were created as the engine and Tasker create them
//! (attempts 0). Every step and count must agree, but for these differences, documented in
//! docs/tasker-schema.md and asserted here exactly:
//! - a task or step with no transition row is pending for tasker-core and uncounted by
//!   Tasker's health function (its pending count reads the transition rows only): the one
//!   difference on purpose;
//! - Tasker's readiness compares `attempts < retry_limit` without COALESCE, so a step whose
//!   `attempts` is NULL is never ready for Tasker's function (tasker-core reads NULL as 0).
//!   The engine now creates steps with 0; rows written by earlier versions keep NULL until
//!   their first failure;
//! - in_backoff_steps: Tasker counts every retryable step in error that has a
//!   last_attempted_at, its backoff over or not; tasker-core counts the ones a backoff holds
//!   at the time asked (HealthCounts' definition, kept).
//!
//! With `TASKER_FUNCTIONS_SQL` naming a file of Tasker's own function definitions (from a
//! Tasker checkout: its `get_step_readiness_status`, `get_task_execution_context` and
//! `get_system_health_counts_v01`, and `get_step_readiness_status_batch`), they are installed
//! into the same schema and their rows must equal the Rust rules' (so the rules here are
//! Tasker's, and Tasker's functions run on tasker-core's tables). Without it that part prints
//! a SKIPPED line.

mod conformance;
#[path = "../../resolver/tests/support/tasker_context.rs"]
mod tasker_context;

use conformance::{new_task, template, PgSchema, State};
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection};
use std::collections::BTreeMap;
use std::io::Write;
use tasker_context::{context_of_steps, Context};
use tasker_model::{StepId, TaskId, Timestamp};
use tasker_resolver::readiness::{evaluate, ExecutionContext, StepSnapshot};
use tasker_resolver::TemplateGraph;
use tasker_state::{open_store, Change, HealthCounts, StepPatch, Store, TransitionMeta};

const SECOND: i64 = 1_000_000;

/// A workflow step as Tasker's functions see it: its row, its current transition and its
/// parents' current states.
#[derive(Debug, Clone)]
struct StepRow {
    id: i64,
    task_id: i64,
    retryable: bool,
    retry_limit: Option<i32>,
    in_process: bool,
    processed: bool,
    attempts: Option<i32>,
    last_attempted_at: Option<i64>,
    backoff_request_seconds: Option<i32>,
    /// The most_recent transition: (to_state, created_at).
    current: Option<(String, i64)>,
    /// Each parent's most_recent to_state (None: no transition).
    parents: Vec<Option<String>>,
}

/// One row of Tasker's `get_step_readiness_status`, the columns compared.
#[derive(Debug, Clone, PartialEq)]
struct TaskerReadiness {
    current_state: String,
    dependencies_satisfied: bool,
    ready_for_execution: bool,
    next_retry_at: Option<i64>,
    total_parents: i32,
    completed_parents: i32,
}

/// `a < b` in SQL: NULL (None) when either side is NULL.
fn lt(a: Option<i32>, b: Option<i32>) -> Option<bool> {
    Some(a? < b?)
}

/// Tasker's error backoff: min(2^COALESCE(attempts, 1) seconds, 30 seconds).
fn failure_backoff(attempts: Option<i32>) -> i64 {
    let exp = attempts.unwrap_or(1);
    if exp >= 5 {
        30 * SECOND
    } else {
        (1i64 << exp.max(0)).min(30) * SECOND
    }
}

/// Tasker's `get_step_readiness_status`, one step, at `now`.
fn tasker_readiness(s: &StepRow, now: i64) -> TaskerReadiness {
    let state = s
        .current
        .as_ref()
        .map_or("pending".to_string(), |c| c.0.clone());
    let completed_parents = s
        .parents
        .iter()
        .filter(|p| matches!(p.as_deref(), Some("complete" | "resolved_manually")))
        .count() as i32;
    let total_parents = s.parents.len() as i32;
    let deps = total_parents == 0 || completed_parents == total_parents;
    let last_failure = s.current.as_ref().filter(|c| c.0 == "error").map(|c| c.1);
    let explicit = match (s.backoff_request_seconds, s.last_attempted_at) {
        (Some(b), Some(at)) => Some(at + b as i64 * SECOND),
        _ => None,
    };
    let failure = last_failure.map(|at| at + failure_backoff(s.attempts));
    let ready = matches!(state.as_str(), "pending" | "error")
        && !s.processed
        && deps
        // `ws.attempts < COALESCE(ws.retry_limit, 3)`: NULL attempts is not true.
        && lt(s.attempts, Some(s.retry_limit.unwrap_or(3))) == Some(true)
        && s.retryable
        && !s.in_process
        && explicit.is_none_or(|t| t <= now)
        && failure.is_none_or(|t| t <= now);
    TaskerReadiness {
        current_state: state,
        dependencies_satisfied: deps,
        ready_for_execution: ready,
        next_retry_at: explicit.or(failure),
        total_parents,
        completed_parents,
    }
}

/// Tasker's `get_task_execution_context` for one task's steps.
fn tasker_context(steps: &[(StepRow, TaskerReadiness)]) -> Context {
    let blocked = |s: &(StepRow, TaskerReadiness)| {
        s.1.current_state == "error"
            && lt(s.0.attempts, Some(s.0.retry_limit.unwrap_or(3))) == Some(false)
    };
    let steps = steps.iter().map(|s| {
        let state = s.1.current_state.as_str();
        (state, s.1.ready_for_execution, blocked(s))
    });
    context_of_steps(steps).0
}

/// Tasker's `get_system_health_counts_v01`, without the connection counts.
#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
struct TaskerHealth {
    total_tasks: u64,
    pending_tasks: u64,
    in_progress_tasks: u64,
    complete_tasks: u64,
    error_tasks: u64,
    cancelled_tasks: u64,
    total_steps: u64,
    pending_steps: u64,
    in_progress_steps: u64,
    complete_steps: u64,
    error_steps: u64,
    retryable_error_steps: u64,
    exhausted_retry_steps: u64,
    in_backoff_steps: u64,
}

fn tasker_health(task_states: &[Option<String>], steps: &[StepRow]) -> TaskerHealth {
    let mut h = TaskerHealth::default();
    for s in task_states {
        h.total_tasks += 1;
        match s.as_deref() {
            Some("pending") => h.pending_tasks += 1,
            Some("in_progress") => h.in_progress_tasks += 1,
            Some("complete") => h.complete_tasks += 1,
            Some("error") => h.error_tasks += 1,
            Some("cancelled") => h.cancelled_tasks += 1,
            _ => {}
        }
    }
    for s in steps {
        h.total_steps += 1;
        let state = s.current.as_ref().map(|c| c.0.as_str());
        match state {
            Some("pending") => h.pending_steps += 1,
            Some("in_progress") => h.in_progress_steps += 1,
            Some("complete") => h.complete_steps += 1,
            Some("error") => h.error_steps += 1,
            _ => {}
        }
        if state == Some("error") {
            let below = lt(s.attempts, s.retry_limit);
            if below == Some(true) && s.retryable {
                h.retryable_error_steps += 1;
                if s.last_attempted_at.is_some() {
                    h.in_backoff_steps += 1;
                }
            }
            if below == Some(false) {
                h.exhausted_retry_steps += 1;
            }
        }
    }
    h
}

fn micros(t: chrono::NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

/// The steps of the schema's tasks, as Tasker's functions read them.
async fn step_rows(conn: &mut PgConnection) -> Result<Vec<StepRow>, sqlx::Error> {
    type Row = (
        i64,
        i64,
        bool,
        Option<i32>,
        bool,
        bool,
        Option<i32>,
        Option<chrono::NaiveDateTime>,
        Option<i32>,
        Option<String>,
        Option<chrono::NaiveDateTime>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT ws.workflow_step_id, ws.task_id, ws.retryable, ws.retry_limit, ws.in_process, \
                ws.processed, ws.attempts, ws.last_attempted_at, ws.backoff_request_seconds, \
                tr.to_state::text, tr.created_at \
         FROM tasker_workflow_steps ws \
         LEFT JOIN tasker_workflow_step_transitions tr \
           ON tr.workflow_step_id = ws.workflow_step_id AND tr.most_recent \
         ORDER BY ws.workflow_step_id",
    )
    .fetch_all(&mut *conn)
    .await?;
    let edges: Vec<(i64, i64)> =
        sqlx::query_as("SELECT from_step_id, to_step_id FROM tasker_workflow_step_edges")
            .fetch_all(&mut *conn)
            .await?;
    let mut steps: Vec<StepRow> = rows
        .into_iter()
        .map(|r| StepRow {
            id: r.0,
            task_id: r.1,
            retryable: r.2,
            retry_limit: r.3,
            in_process: r.4,
            processed: r.5,
            attempts: r.6,
            last_attempted_at: r.7.map(micros),
            backoff_request_seconds: r.8,
            current: r.9.zip(r.10.map(micros)),
            parents: Vec::new(),
        })
        .collect();
    let states: BTreeMap<i64, Option<String>> = steps
        .iter()
        .map(|s| (s.id, s.current.as_ref().map(|c| c.0.clone())))
        .collect();
    for s in &mut steps {
        s.parents = edges
            .iter()
            .filter(|(_, to)| *to == s.id)
            .map(|(from, _)| states[from].clone())
            .collect();
    }
    Ok(steps)
}

fn move_step(
    task: TaskId,
    step: StepId,
    from: State,
    to: State,
    at: Timestamp,
    patch: StepPatch,
) -> Change {
    Change::StepTransition {
        task_id: task,
        step_id: step,
        from: Some(from),
        to,
        meta: TransitionMeta::engine("crosscheck"),
        at,
        patch,
        expect_sort_key: None,
    }
}

fn move_task(task: TaskId, from: State, to: State, at: Timestamp) -> Change {
    conformance::task_move(task, from, to, at)
}

/// Writes the scenario; returns the task ids (complete, error, retrying, NULL attempts,
/// attempts 0, due for a retry).
fn write_scenario(store: &dyn Store, now: Timestamp) -> Vec<TaskId> {
    let template = template(); // fetch, charge (retry limit 5), ship <- [fetch, charge]
    store.register_template(&template).expect("register");
    let ago = |s: i64| Timestamp(now.0 - s * SECOND);
    let mut ids = Vec::new();
    let mut batch = Vec::new();
    let mut task = |batch: &mut Vec<Change>, attempts: Option<u32>| {
        let mut t = new_task(store, &template, ago(600));
        for s in &mut t.steps {
            s.attempts = attempts;
        }
        let id = t.task.task_id;
        let steps: Vec<StepId> = t.steps.iter().map(|s| s.step_id).collect();
        batch.push(Change::CreateTask(Box::new(t)));
        ids.push(id);
        (id, steps)
    };
    let done = |at| StepPatch {
        processed: Some(true),
        processed_at: Some(at),
        in_process: Some(false),
        ..StepPatch::default()
    };
    let failure = |attempts: u32, at| StepPatch {
        attempts: Some(attempts),
        last_attempted_at: Some(at),
        in_process: Some(false),
        ..StepPatch::default()
    };
    let started = StepPatch {
        in_process: Some(true),
        ..StepPatch::default()
    };

    // One attempt of step `s`: started at `start`, ended in `to` at `end` with `patch`.
    let attempt = |batch: &mut Vec<Change>, t, s, start, to, end, patch| {
        batch.push(move_step(
            t,
            s,
            State::Pending,
            State::InProgress,
            start,
            started.clone(),
        ));
        batch.push(move_step(t, s, State::InProgress, to, end, patch));
    };
    // An attempt of step `s`, started at `start`, that completed at `end`.
    let succeeded = |batch: &mut Vec<Change>, t, s, start, end| {
        attempt(batch, t, s, start, State::Complete, end, done(end));
    };
    // An attempt of step `s`, started at `start`, that failed at `end`: its `attempts`th.
    let failed = |batch: &mut Vec<Change>, t, s, start, end, attempts| {
        let patch = failure(attempts, end);
        attempt(batch, t, s, start, State::Error, end, patch);
    };

    // Complete: every step run once.
    let (t, s) = task(&mut batch, Some(0));
    batch.push(move_task(t, State::Pending, State::InProgress, ago(500)));
    for step in &s {
        succeeded(&mut batch, t, *step, ago(400), ago(300));
    }
    batch.push(move_task(t, State::InProgress, State::Complete, ago(300)));

    // Error: fetch complete, charge failed five times (its limit), ship never started.
    let (t, s) = task(&mut batch, Some(0));
    batch.push(move_task(t, State::Pending, State::InProgress, ago(500)));
    succeeded(&mut batch, t, s[0], ago(400), ago(390));
    failed(&mut batch, t, s[1], ago(400), ago(100), 5);
    batch.push(move_task(t, State::InProgress, State::Error, ago(100)));

    // Retrying: fetch running, charge failed once a second ago (in its 2 s backoff).
    let (t, s) = task(&mut batch, Some(0));
    batch.push(move_task(t, State::Pending, State::InProgress, ago(500)));
    batch.push(move_step(
        t,
        s[0],
        State::Pending,
        State::InProgress,
        ago(10),
        started.clone(),
    ));
    failed(&mut batch, t, s[1], ago(20), ago(1), 1);

    // Fresh, written as earlier versions wrote steps (attempts NULL); no transition row.
    task(&mut batch, None);

    // Made as the engine and Tasker make steps (attempts 0), its task started: roots ready
    // for both.
    let (t, _) = task(&mut batch, Some(0));
    batch.push(move_task(t, State::Pending, State::InProgress, ago(5)));

    // Due: charge failed once a minute ago, its backoff over; ready again for both.
    let (t, s) = task(&mut batch, Some(0));
    batch.push(move_task(t, State::Pending, State::InProgress, ago(500)));
    failed(&mut batch, t, s[1], ago(70), ago(60), 1);

    conformance::apply(store, batch).expect("write the scenario");
    ids
}

/// tasker-core's readiness of every step of `tasks`, by step id.
fn core_readiness(
    store: &dyn Store,
    tasks: &[TaskId],
    now: Timestamp,
) -> BTreeMap<i64, (StepSnapshot, tasker_resolver::readiness::StepReadiness, i64)> {
    let graph = TemplateGraph::compile(&template()).expect("graph");
    let mut out = BTreeMap::new();
    for id in tasks {
        let view = store.task(*id).expect("read").expect("task");
        let snaps: Vec<StepSnapshot> = view
            .steps
            .iter()
            .map(|s| StepSnapshot {
                state: s.state,
                processed: s.step.processed,
                in_process: s.step.in_process,
                retryable: s.step.retryable,
                attempts: s.step.attempts,
                retry_limit: Some(s.step.retry_limit),
                backoff_request_seconds: s.step.backoff_request_seconds,
                last_attempted_at: s.step.last_attempted_at,
                state_entered_at: s.transitions.last().map(|t| t.created_at),
            })
            .collect();
        let readiness = evaluate(&graph, &snaps, now);
        for ((view, snap), r) in view.steps.iter().zip(snaps).zip(readiness) {
            out.insert(view.step.step_id.0, (snap, r, id.0));
        }
    }
    out
}

#[test]
fn taskers_function_rules_agree_with_tasker_core() {
    let Some(schema) = PgSchema::new("tasker_functions") else {
        return;
    };
    let store = open_store(&schema.url()).expect("open");
    let now = Timestamp::now();
    let tasks = write_scenario(store.as_ref(), now);
    // The connection's runtime lives as long as it (the store runs on its own).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a test runtime");
    let mut conn = rt
        .block_on(PgConnection::connect(&schema.url()))
        .expect("connect");
    let rows = rt.block_on(step_rows(&mut conn)).expect("rows");
    let core = core_readiness(store.as_ref(), &tasks, now);
    assert_eq!(rows.len(), core.len());

    // Readiness, step by step.
    let mut readiness = BTreeMap::new();
    for row in &rows {
        let tasker = tasker_readiness(row, now.0);
        let (snap, r, _) = &core[&row.id];
        assert_eq!(tasker.current_state, snap.state.as_str(), "step {}", row.id);
        assert_eq!(
            tasker.dependencies_satisfied, r.dependencies_satisfied,
            "step {}",
            row.id
        );
        assert_eq!(
            tasker.next_retry_at,
            r.next_retry_at.map(|t| t.0),
            "step {}",
            row.id
        );
        let expected_ready = r.ready && row.attempts.is_some(); // the NULL-attempts difference
        assert_eq!(
            tasker.ready_for_execution, expected_ready,
            "step {}: {row:?}",
            row.id
        );
        readiness.insert(row.id, tasker);
    }
    // The difference shows only on steps with NULL attempts (the earlier-version task's
    // roots); with attempts 0 the roots are ready for both.
    let differing: Vec<i64> = rows
        .iter()
        .filter(|r| core[&r.id].1.ready != readiness[&r.id].ready_for_execution)
        .map(|r| r.task_id)
        .collect();
    assert_eq!(
        differing,
        vec![tasks[3].0, tasks[3].0],
        "fresh task's two roots"
    );
    assert_eq!(
        rows.iter()
            .filter(|r| r.task_id == tasks[4].0 && readiness[&r.id].ready_for_execution)
            .count(),
        2
    );

    let mut contexts = Vec::new();
    // Execution contexts, task by task (Tasker's rules against ExecutionContext::derive);
    // only the fresh task differs, through the readiness above.
    for (n, id) in tasks.iter().enumerate() {
        let steps: Vec<(StepRow, TaskerReadiness)> = rows
            .iter()
            .filter(|r| r.task_id == id.0)
            .map(|r| (r.clone(), readiness[&r.id].clone()))
            .collect();
        let ours: Vec<(StepSnapshot, tasker_resolver::readiness::StepReadiness)> = steps
            .iter()
            .map(|(r, _)| (core[&r.id].0, core[&r.id].1))
            .collect();
        let (snaps, rs): (Vec<_>, Vec<_>) = ours.into_iter().unzip();
        let c = ExecutionContext::derive(&snaps, &rs);
        let theirs = tasker_context(&steps);
        contexts.push(theirs);
        let mine = (
            c.total_steps,
            c.pending_steps,
            c.in_progress_steps,
            c.completed_steps,
            c.failed_steps,
            c.ready_steps,
            c.execution_status.as_str(),
            c.health_status,
        );
        if n == 3 {
            assert_eq!(
                theirs,
                (3, 3, 0, 0, 0, 0, "waiting_for_dependencies", "healthy")
            );
            assert_eq!(mine, (3, 3, 0, 0, 0, 2, "has_ready_steps", "healthy"));
        } else {
            assert_eq!(theirs, mine, "task {n} ({id:?})");
        }
    }

    // Health counts.
    let task_states: Vec<Option<String>> = rt
        .block_on(
            sqlx::query_scalar(
                "SELECT tr.to_state::text FROM tasker_tasks t \
         LEFT JOIN tasker_task_transitions tr ON tr.task_id = t.task_id AND tr.most_recent",
            )
            .fetch_all(&mut conn),
        )
        .expect("task states");
    let theirs = tasker_health(&task_states, &rows);
    let ours: HealthCounts = store.health_counts(now).expect("health counts");
    let no_row_tasks = task_states.iter().filter(|s| s.is_none()).count() as u64;
    let no_row_steps = rows.iter().filter(|s| s.current.is_none()).count() as u64;
    let mine = TaskerHealth {
        total_tasks: ours.total_tasks,
        // tasker-core counts a task or step with no transition row as pending; Tasker does not.
        pending_tasks: ours.pending_tasks - no_row_tasks,
        in_progress_tasks: ours.in_progress_tasks,
        complete_tasks: ours.complete_tasks,
        error_tasks: ours.error_tasks,
        cancelled_tasks: ours.cancelled_tasks,
        total_steps: ours.total_steps,
        pending_steps: ours.pending_steps - no_row_steps,
        in_progress_steps: ours.in_progress_steps,
        complete_steps: ours.complete_steps,
        error_steps: ours.error_steps,
        retryable_error_steps: ours.retryable_error_steps,
        exhausted_retry_steps: ours.exhausted_retry_steps,
        // Tasker also counts the due task's failed step, whose backoff is over.
        in_backoff_steps: ours.in_backoff_steps + 1,
    };
    assert_eq!(
        theirs, mine,
        "health counts, Tasker's rules vs tasker-core's"
    );
    assert_eq!(
        (no_row_tasks, no_row_steps),
        (1, 10),
        "the scenario's rows without history"
    );

    if let Some(path) = std::env::var_os("TASKER_FUNCTIONS_SQL").filter(|p| !p.is_empty()) {
        taskers_own_functions(&rt, &mut conn, &path, &tasks, &readiness, &contexts, theirs);
    } else {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: Tasker's own SQL functions (set TASKER_FUNCTIONS_SQL to a file of their definitions)"
        );
    }
    drop(store);
    rt.block_on(conn.close()).expect("close");
}

/// Tasker's own functions, installed into the schema, return what the rules above computed.
fn taskers_own_functions(
    rt: &tokio::runtime::Runtime,
    conn: &mut PgConnection,
    path: &std::ffi::OsStr,
    tasks: &[TaskId],
    readiness: &BTreeMap<i64, TaskerReadiness>,
    contexts: &[Context],
    health: TaskerHealth,
) {
    let sql = std::fs::read_to_string(path).expect("TASKER_FUNCTIONS_SQL readable");
    rt.block_on(sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut *conn))
        .expect("install Tasker's functions");
    for (id, context) in tasks.iter().zip(contexts) {
        type Row = (
            i64,
            i32,
            String,
            bool,
            bool,
            Option<chrono::NaiveDateTime>,
            i32,
            i32,
        );
        let rows: Vec<Row> = rt.block_on(sqlx::query_as(
            "SELECT workflow_step_id, named_step_id, current_state, dependencies_satisfied, \
                    ready_for_execution, next_retry_at, total_parents, completed_parents \
             FROM get_step_readiness_status($1, NULL)",
        )
        .bind(id.0)
        .fetch_all(&mut *conn))
        .expect("get_step_readiness_status runs on tasker-core's tables");
        assert_eq!(rows.len(), 3);
        for r in rows {
            let want = &readiness[&r.0];
            let got = TaskerReadiness {
                current_state: r.2,
                dependencies_satisfied: r.3,
                ready_for_execution: r.4,
                next_retry_at: r.5.map(micros),
                total_parents: r.6,
                completed_parents: r.7,
            };
            // NOW() in the function is a little later than the test's `now`: readiness may
            // only have moved on for a step whose backoff ended in between.
            assert_eq!(got.current_state, want.current_state);
            assert_eq!(got.next_retry_at, want.next_retry_at);
            assert_eq!(
                (
                    got.dependencies_satisfied,
                    got.total_parents,
                    got.completed_parents
                ),
                (
                    want.dependencies_satisfied,
                    want.total_parents,
                    want.completed_parents
                )
            );
            assert_eq!(
                got.ready_for_execution, want.ready_for_execution,
                "step {}",
                r.0
            );
        }
        type Ctx = (i64, i32, i64, i64, i64, i64, i64, i64, String, String);
        let c: Ctx = rt
            .block_on(
                sqlx::query_as(
                    "SELECT task_id, named_task_id, total_steps, pending_steps, \
                            in_progress_steps, completed_steps, failed_steps, ready_steps, \
                            execution_status, health_status \
                     FROM get_task_execution_context($1)",
                )
                .bind(id.0)
                .fetch_one(&mut *conn),
            )
            .expect("get_task_execution_context runs on tasker-core's tables");
        assert_eq!(c.0, id.0);
        let n = |v: i64| v as usize;
        let got = (n(c.2), n(c.3), n(c.4), n(c.5), n(c.6), n(c.7));
        let want = (
            context.0, context.1, context.2, context.3, context.4, context.5,
        );
        assert_eq!(got, want, "task {id:?}");
        assert_eq!(
            (c.8.as_str(), c.9.as_str()),
            (context.6, context.7),
            "task {id:?}"
        );
    }
    // The batch readiness function agrees with the single one.
    let batch: Vec<(i64, bool)> = rt
        .block_on(
            sqlx::query_as(
                "SELECT workflow_step_id, ready_for_execution \
                 FROM get_step_readiness_status_batch($1)",
            )
            .bind(tasks.iter().map(|t| t.0).collect::<Vec<_>>())
            .fetch_all(&mut *conn),
        )
        .expect("get_step_readiness_status_batch runs on tasker-core's tables");
    assert_eq!(batch.len(), readiness.len());
    for (step, ready) in batch {
        assert_eq!(
            ready, readiness[&step].ready_for_execution,
            "step {step} (batch)"
        );
    }
    type Health = (
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
    );
    let h: Health = rt.block_on(sqlx::query_as(
        "SELECT total_tasks, pending_tasks, in_progress_tasks, complete_tasks, error_tasks, \
                cancelled_tasks, total_steps, pending_steps, in_progress_steps, complete_steps, \
                error_steps, retryable_error_steps, exhausted_retry_steps, in_backoff_steps \
         FROM get_system_health_counts_v01()",
    )
    .fetch_one(&mut *conn))
    .expect("get_system_health_counts_v01 runs on tasker-core's tables");
    let n = |v: i64| v as u64;
    let got = TaskerHealth {
        total_tasks: n(h.0),
        pending_tasks: n(h.1),
        in_progress_tasks: n(h.2),
        complete_tasks: n(h.3),
        error_tasks: n(h.4),
        cancelled_tasks: n(h.5),
        total_steps: n(h.6),
        pending_steps: n(h.7),
        in_progress_steps: n(h.8),
        complete_steps: n(h.9),
        error_steps: n(h.10),
        retryable_error_steps: n(h.11),
        exhausted_retry_steps: n(h.12),
        in_backoff_steps: n(h.13),
    };
    assert_eq!(got, health, "Tasker's health function vs its rules");
}
