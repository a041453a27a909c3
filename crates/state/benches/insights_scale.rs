//! The insights queries on 1,000,000 stored steps in PostgreSQL (issue 8's target: slowest
//! steps with the default filter in at most 200 ms). Alone:
//! `cargo bench -p tasker-state --bench insights_scale`.
//!
//! 1. A fresh schema; [`PostgresStore::open`] creates the Tasker tables and tasker-core's
//!    indexes in it, and 20 templates are registered through the store (5 namespaces × 4 task
//!    names, 4 steps each).
//! 2. The fill, straight into the tables with `generate_series` (about a minute): 250,000
//!    tasks of 4 steps = 1,000,000 steps, created evenly over the [`DAYS`] days before `now`
//!    (so a day holds 1/[`DAYS`] of them, about 33,000 steps: a store with a month of history).
//!    Each step started 1 s after its task was created and finished 1-600 s later; every 10th
//!    failed once and was retried (5 transitions), every 50th ended in error; every 25th task
//!    ended in error. About 2.2 million step transitions and 500,000 task transitions. Then
//!    `VACUUM ANALYZE`, the state autovacuum keeps a long-lived database in.
//! 3. Timings through the public [`Store`] API, after two warm-up calls, [`RUNS`] calls each
//!    (min / median / max):
//!    - `slowest_steps` with the default query (the last 24 hours, 10 rows) — the target —
//!      and with a namespace filter (a fifth of the tasks);
//!    - the same over the whole store (`since` = the oldest task): every one of the 1,000,000
//!      steps in the window, the worst case for a 24-hour window (a store whose whole
//!      history is one day old);
//!    - `slowest_step_groups`, `slowest_tasks` (default query), `analytics_metrics` (the last
//!      hour) and `health_counts`.
//!
//!    The default `slowest_steps` answer is checked against a plain SQL statement that sorts
//!    every finished step (no index to help it).
//! 4. The schema is dropped, also when the bench panics.
//!
//! Output: one `insights-bench:` line of `key=value` pairs (milliseconds). Without PostgreSQL,
//! a `SKIPPED:` line and `insights-bench: skipped=1`, exit 0. Knobs: `TASKER_BENCH_DATABASE_URL`
//! (else `TASKER_TEST_DATABASE_URL`, else the local server's `test` database),
//! `TASKER_INSIGHTS_BENCH_DAYS` (default [`DAYS`]).

use chrono::{DateTime, NaiveDateTime};
use sqlx::postgres::PgConnection;
use sqlx::Connection;
use std::time::Instant;
use tasker_model::{TaskTemplate, Timestamp};
use tasker_state::{PostgresStore, SlowQuery, Store};

mod support;
use support::{database_url, in_fresh_schema, BenchResult, Schema};

const TASKS: i64 = 250_000;
const STEPS_PER_TASK: i64 = 4;
const DAYS: i64 = 30;
const RUNS: usize = 10;

fn main() {
    let url = database_url();
    let days = std::env::var("TASKER_INSIGHTS_BENCH_DAYS")
        .ok()
        .and_then(|d| d.parse().ok())
        .filter(|d: &i64| *d >= 1)
        .unwrap_or(DAYS);
    let skip = |why| {
        println!(
            "SKIPPED: PostgreSQL unreachable ({why}); the insights bench did not run \
             (set TASKER_BENCH_DATABASE_URL)"
        );
        println!("insights-bench: skipped=1");
    };
    in_fresh_schema(
        &url,
        "tasker_core_insights_bench",
        "insights_scale",
        skip,
        |rt, schema| run(rt, schema, days),
    );
}

/// Namespace `ns_i`, task `task_j`, steps `step_0` → … → `step_3`.
fn template(namespace: usize, name: usize) -> TaskTemplate {
    let mut yaml = format!(
        "name: task_{name}\nnamespace_name: ns_{namespace}\nversion: 1.0.0\nstep_templates:\n"
    );
    for s in 0..STEPS_PER_TASK {
        yaml.push_str(&format!(
            "  - name: step_{s}\n    handler_class: Bench::Step\n"
        ));
        if s > 0 {
            yaml.push_str(&format!("    depends_on_step: step_{}\n", s - 1));
        }
    }
    TaskTemplate::from_yaml(&yaml, "insights_scale.yaml").expect("a valid template")
}

/// The tasks, $1 = now (timestamp), $2 = days, $3 = tasks; task i is created
/// days × (tasks − i) / tasks days before now. Ids are given explicitly (task i, its steps
/// 4(i − 1) + 1 … 4i) and the sequences moved past them afterwards.
const FILL_TASKS: &str =
    "INSERT INTO tasker_tasks (task_id, named_task_id, complete, requested_at, initiator,
                               source_system, identity_hash, created_at, updated_at)
     SELECT i, nts.ids[1 + i % array_length(nts.ids, 1)], i % 25 <> 0, c, 'bench', 'fill',
            'insights-bench-' || i, c, c
     FROM generate_series(1, $3::bigint) i,
          (SELECT array_agg(named_task_id ORDER BY named_task_id) AS ids
             FROM tasker_named_tasks) nts,
          LATERAL (SELECT $1::timestamp
                          - ($2::int * 86400.0 * ($3::bigint - i) / $3::bigint)
                            * interval '1 second' AS c) x";

/// Their steps and histories.
const FILL_REST: [&str; 3] = [
    "INSERT INTO tasker_workflow_steps (workflow_step_id, task_id, named_step_id, retryable,
                                       retry_limit, in_process, processed, attempts,
                                       created_at, updated_at)
     SELECT (t.task_id - 1) * 4 + k + 1, t.task_id, ns.ids[k + 1], true, 3, false, true,
            CASE WHEN ((t.task_id - 1) * 4 + k + 1) % 50 = 0 THEN 3
                 WHEN ((t.task_id - 1) * 4 + k + 1) % 10 = 0 THEN 1 END,
            t.created_at, t.created_at
     FROM tasker_tasks t, generate_series(0, 3) k,
          (SELECT array_agg(named_step_id ORDER BY name) AS ids FROM tasker_named_steps) ns",
    // Started at +1 s, finished d = 1..600 s later; every 10th step failed once and was
    // retried first; every 50th ended in its error.
    "INSERT INTO tasker_workflow_step_transitions (to_state, from_state, sort_key, most_recent,
                                                  workflow_step_id, created_at, updated_at)
     SELECT v.to_state, v.from_state, v.sort_key, v.most_recent, ws.workflow_step_id,
            ws.created_at + v.off * interval '1 second', ws.created_at
     FROM tasker_workflow_steps ws,
          LATERAL (SELECT 1 + ws.workflow_step_id * 7919 % 600 AS d) d,
          LATERAL (
              SELECT * FROM (VALUES
                  ('in_progress', 'pending', 1, false, 1.0),
                  ('complete', 'in_progress', 2, true, 1.0 + d.d)
              ) v(to_state, from_state, sort_key, most_recent, off)
              WHERE ws.workflow_step_id % 10 <> 0
              UNION ALL
              SELECT * FROM (VALUES
                  ('in_progress', 'pending', 1, false, 1.0),
                  ('error', 'in_progress', 2, ws.workflow_step_id % 50 = 0, 2.0),
                  ('pending', 'error', 3, false, 4.0),
                  ('in_progress', 'pending', 4, false, 5.0),
                  ('complete', 'in_progress', 5, true, 5.0 + d.d)
              ) v(to_state, from_state, sort_key, most_recent, off)
              WHERE ws.workflow_step_id % 10 = 0
                AND (ws.workflow_step_id % 50 <> 0 OR v.sort_key <= 2)
          ) v",
    "INSERT INTO tasker_task_transitions (to_state, from_state, sort_key, most_recent, task_id,
                                         created_at, updated_at)
     SELECT v.to_state, v.from_state, v.sort_key, v.most_recent, t.task_id,
            t.created_at + v.off * interval '1 second', t.created_at
     FROM tasker_tasks t,
          LATERAL (VALUES
              ('in_progress', 'pending', 1, false, 0.5),
              (CASE WHEN t.task_id % 25 = 0 THEN 'error' ELSE 'complete' END, 'in_progress',
               2, true, 700.0)
          ) v(to_state, from_state, sort_key, most_recent, off)",
];

/// Sequences past the given ids, then what autovacuum would have done (one statement each:
/// VACUUM refuses to run in the implicit transaction of a multi-statement string).
const AFTER_FILL: [&str; 6] = [
    "SELECT setval(pg_get_serial_sequence('tasker_tasks', 'task_id'), \
                   (SELECT max(task_id) FROM tasker_tasks))",
    "SELECT setval(pg_get_serial_sequence('tasker_workflow_steps', 'workflow_step_id'), \
                   (SELECT max(workflow_step_id) FROM tasker_workflow_steps))",
    "VACUUM ANALYZE tasker_tasks",
    "VACUUM ANALYZE tasker_workflow_steps",
    "VACUUM ANALYZE tasker_workflow_step_transitions",
    "VACUUM ANALYZE tasker_task_transitions",
];

/// The default slowest-steps answer by brute force: every finished step sorted.
const BRUTE_FORCE: &str = "
SELECT ws.workflow_step_id
FROM tasker_workflow_steps ws
JOIN tasker_workflow_step_transitions f
  ON f.workflow_step_id = ws.workflow_step_id AND f.most_recent
WHERE f.to_state IN ('complete', 'error') AND f.created_at >= $1
ORDER BY f.created_at - ws.created_at DESC, ws.workflow_step_id
LIMIT 10";

fn naive(t: Timestamp) -> NaiveDateTime {
    DateTime::from_timestamp_micros(t.0)
        .expect("a representable instant")
        .naive_utc()
}

/// Runs `call` twice to warm up, then [`RUNS`] times; (min, median, max) in milliseconds.
fn time<T>(mut call: impl FnMut() -> T) -> (f64, f64, f64) {
    for _ in 0..2 {
        std::hint::black_box(call());
    }
    let mut ms: Vec<f64> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(call());
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    (ms[0], ms[RUNS / 2], ms[RUNS - 1])
}

fn fmt((min, median, max): (f64, f64, f64)) -> String {
    format!("{min:.1}/{median:.1}/{max:.1}")
}

/// Everything after the schema exists; returns the `insights-bench:` line.
fn run(rt: &tokio::runtime::Runtime, schema: &Schema, days: i64) -> BenchResult<String> {
    let store = PostgresStore::open(&schema.url)?;
    for namespace in 0..5 {
        for name in 0..4 {
            store.register_template(&template(namespace, name))?;
        }
    }
    let now = Timestamp::now();
    let fill_started = Instant::now();
    let (steps, in_day, expected) = rt.block_on(async {
        let mut conn = PgConnection::connect(&schema.url).await?;
        sqlx::query(FILL_TASKS)
            .bind(naive(now))
            .bind(days as i32)
            .bind(TASKS)
            .execute(&mut conn)
            .await?;
        for statement in FILL_REST {
            sqlx::raw_sql(statement).execute(&mut conn).await?;
        }
        for statement in AFTER_FILL {
            sqlx::raw_sql(statement).execute(&mut conn).await?;
        }
        let steps: i64 = sqlx::query_scalar("SELECT count(*) FROM tasker_workflow_steps")
            .fetch_one(&mut conn)
            .await?;
        let since = naive(SlowQuery::new(now).since);
        let in_day: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM tasker_workflow_step_transitions \
             WHERE most_recent AND to_state IN ('complete', 'error') AND created_at >= $1",
        )
        .bind(since)
        .fetch_one(&mut conn)
        .await?;
        let expected: Vec<i64> = sqlx::query_scalar(BRUTE_FORCE)
            .bind(since)
            .fetch_all(&mut conn)
            .await?;
        conn.close().await?;
        Ok::<_, sqlx::Error>((steps, in_day, expected))
    })?;
    let fill_seconds = fill_started.elapsed().as_secs_f64();

    let default = SlowQuery::new(now);
    let got: Vec<i64> = store
        .slowest_steps(&default)?
        .iter()
        .map(|s| s.workflow_step_id.0)
        .collect();
    if got != expected {
        return Err(
            format!("slowest_steps {got:?} is not the brute-force answer {expected:?}").into(),
        );
    }
    let whole = SlowQuery {
        since: Timestamp(now.0 - (days * 86_400 + 3_600) * 1_000_000),
        ..default.clone()
    };
    let slowest = time(|| store.slowest_steps(&default).expect("slowest_steps"));
    let slowest_all = time(|| store.slowest_steps(&whole).expect("slowest_steps"));
    let one_namespace = SlowQuery {
        namespace: Some("ns_1".into()),
        ..default.clone()
    };
    let slowest_ns = time(|| store.slowest_steps(&one_namespace).expect("slowest_steps"));
    let groups = time(|| store.slowest_step_groups(&default).expect("groups"));
    let tasks = time(|| store.slowest_tasks(&default).expect("slowest_tasks"));
    let hour_ago = Timestamp(now.0 - 3_600_000_000);
    let analytics = time(|| store.analytics_metrics(hour_ago, now).expect("analytics"));
    let health = time(|| store.health_counts(now).expect("health"));
    Ok(format!(
        "insights-bench: skipped=0 steps={steps} days={days} finished_in_24h={in_day} \
         fill_s={fill_seconds:.0} runs={RUNS} (min/median/max ms) \
         slowest_steps_24h={} slowest_steps_24h_one_namespace={} slowest_steps_all={} \
         slowest_step_groups_24h={} \
         slowest_tasks_24h={} analytics_1h={} health_counts={}",
        fmt(slowest),
        fmt(slowest_ns),
        fmt(slowest_all),
        fmt(groups),
        fmt(tasks),
        fmt(analytics),
        fmt(health),
    ))
}
