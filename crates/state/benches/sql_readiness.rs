//! Readiness of one 1,000-step task: the Rust resolver against the SQL function, on the same
//! rows, in the same run (issue 3; run by `rake bench`, alone with
//! `cargo bench -p tasker-state --bench sql_readiness`).
//!
//! 1. A fresh PostgreSQL schema; [`PostgresStore::open`] creates the Tasker tables in it and
//!    [`PostgresStore::install_readiness_function`] adds `tasker_core_step_readiness`.
//! 2. A 1,000-step layered DAG (the shape of `fixtures/generated_templates.rb` and of
//!    `crates/resolver/benches/readiness.rs`: layers of 50 steps, 1-3 parents each in the
//!    layer before, fixed seed) is registered and one task of it is written through
//!    [`Store::apply`] as the engine writes it, caught mid-run: levels 0-7 complete, levels 8-9
//!    a mix (complete, in progress, in error with its backoff over or still running, in error
//!    at its retry limit, pending behind a handler-requested backoff, fresh), the rest pending.
//!    Every state is reached through the transitions the engine writes (started, complete,
//!    failed, retried), so the history has several rows for retried steps. `ANALYZE` follows.
//! 3. The task is read back with [`Store::task`] and turned into one [`StepSnapshot`] per
//!    step; `SELECT * FROM tasker_core_step_readiness($1, $2)` and
//!    [`readiness::evaluate_into`] are asked at the same instant and must agree on every
//!    column of every step (the ready set included).
//! 4. Timing, after a warm-up of both sides: rounds of one SQL call (one connection, prepared
//!    statement, all rows fetched and decoded) followed by one sample of `evaluate_into` (a
//!    batch of calls sized to about [`RUST_SAMPLE`]), so both sides see the same machine, until
//!    [`SQL_MAX_CALLS`] rounds or [`SQL_BUDGET`]; medians. For context: the server's own
//!    execution time of the same call (`EXPLAIN (ANALYZE, TIMING OFF)`), a `SELECT 1` round
//!    trip, and a one-row INSERT committed on its own (`synchronous_commit` as the server has
//!    it); and how long `Store::apply` took to write the task.
//!
//! Output: one `sql-readiness-bench:` line of `key=value` pairs that `rake bench` copies into
//! docs/benchmarks.md. When PostgreSQL does not answer, a `SKIPPED:` line and
//! `sql-readiness-bench: skipped=1`, and the process exits 0 so the rest of `rake bench`
//! runs. The schema is dropped at the end, also when the bench panics.
//!
//! Knobs: `TASKER_BENCH_DATABASE_URL` (else `TASKER_TEST_DATABASE_URL`, else the local
//! server's `test` database).

use chrono::NaiveDateTime;
use serde_json::json;
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tasker_model::{State, StepId, TaskId, TaskTemplate, Timestamp};
use tasker_resolver::readiness::{self, StepReadiness, StepSnapshot};
use tasker_resolver::TemplateGraph;
use tasker_state::{
    Change, Durability, NewTask, PostgresStore, StepPatch, Store, TaskRecord, TaskView,
    TransitionMeta,
};

#[path = "../../resolver/benches/support/layered.rs"]
mod layered;
#[path = "../tests/conformance/records.rs"]
mod records;
mod support;
use layered::{layered_yaml, LAYER_WIDTH, MAX_PARENTS, SEED};
use support::{database_url, in_fresh_schema, BenchResult, Schema};

const STEPS: usize = 1_000;
const RETRY_LIMIT: u32 = 3;

const SQL_WARM_UP: usize = 20;
const SQL_MAX_CALLS: usize = 400;
const SQL_MIN_CALLS: usize = 30;
const SQL_BUDGET: Duration = Duration::from_secs(4);
/// Calls of each context query (`EXPLAIN ANALYZE` of the call, `SELECT 1`, one-row commit).
const CONTEXT_CALLS: usize = 200;
const RUST_SAMPLE: Duration = Duration::from_millis(1);

fn main() {
    let url = database_url();
    let skip = |why| {
        println!(
            "SKIPPED: PostgreSQL unreachable at {} ({why}); the SQL readiness bench did not \
             run (set TASKER_BENCH_DATABASE_URL)",
            redact(&url)
        );
        println!("sql-readiness-bench: skipped=1 steps={STEPS}");
    };
    in_fresh_schema(&url, "tasker_core_bench", "sql_readiness", skip, run);
}

/// The URL with any password replaced, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if url[s + 3..at].contains(':') => {
            let colon = s + 3 + url[s + 3..at].find(':').expect("checked");
            format!("{}***{}", &url[..=colon], &url[at..])
        }
        _ => url.to_string(),
    }
}

/// Everything after the schema exists; returns the `sql-readiness-bench:` line.
fn run(rt: &tokio::runtime::Runtime, schema: &Schema) -> BenchResult<String> {
    let template = layered_template(STEPS);
    let graph = TemplateGraph::compile(&template)?;
    let now = Timestamp::now();

    // Write the task through the store, as the engine would.
    let (changes, apply_seconds);
    let (task_id, step_ids, view) = {
        let store = PostgresStore::open(&schema.url)?;
        store.install_readiness_function()?;
        store.register_template(&template)?;
        let (task_id, step_ids) = store.allocate_ids(STEPS as u32)?;
        let batch = mid_run_task(&template, &graph, task_id, &step_ids, now);
        changes = batch.len();
        let t = Instant::now();
        rt.block_on(store.apply(batch, Durability::Now))?;
        apply_seconds = t.elapsed().as_secs_f64();
        let view = store
            .task(task_id)?
            .ok_or("the task just written is missing")?;
        (task_id, step_ids, view)
        // The store closes here: the timed connection below is the only one left.
    };
    let snapshots = snapshots(&view, &graph)?;

    let mut conn = rt.block_on(PgConnection::connect(&schema.url))?;
    let transitions: i64 = rt.block_on(
        sqlx::query_scalar("SELECT count(*) FROM tasker_workflow_step_transitions")
            .fetch_one(&mut conn),
    )?;
    rt.block_on(sqlx::raw_sql("ANALYZE").execute(&mut conn))?;

    // The two answers, compared before anything is timed.
    let mut rust = Vec::with_capacity(STEPS);
    readiness::evaluate_into(&graph, &snapshots, now, &mut rust);
    let sql = rt.block_on(sql_readiness(&mut conn, task_id, now))?;
    let mismatches = compare(&step_ids, &snapshots, &rust, &sql);
    let ready_rust: Vec<i64> = (0..STEPS)
        .filter(|&i| rust[i].ready)
        .map(|i| step_ids[i].0)
        .collect();
    let mut ready_sql: Vec<i64> = sql
        .iter()
        .filter(|r| r.ready)
        .map(|r| r.workflow_step_id)
        .collect();
    ready_sql.sort_unstable();
    let same_ready_set = ready_rust == ready_sql;
    if !mismatches.is_empty() || !same_ready_set {
        eprintln!(
            "DISAGREEMENT: tasker_core_step_readiness and readiness::evaluate_into differ on {} \
             steps (ready sets equal: {same_ready_set}); the first ones:",
            mismatches.len()
        );
        for m in mismatches.iter().take(10) {
            eprintln!("  {m}");
        }
    }

    // Warm-up of both sides; the Rust batch is sized to about RUST_SAMPLE.
    for _ in 0..SQL_WARM_UP {
        black_box(rt.block_on(sql_readiness(&mut conn, task_id, now))?);
    }
    let per_call_guess = rust_batch(&graph, &snapshots, now, &mut rust, 100) / 100.0;
    let batch = ((RUST_SAMPLE.as_secs_f64() / per_call_guess.max(1e-9)) as usize).max(1);

    // Timed: one SQL call (every row fetched and decoded), then one Rust batch, in turn, so
    // both sides see the same machine.
    let mut sql_times = Vec::with_capacity(SQL_MAX_CALLS);
    let mut rust_times = Vec::with_capacity(SQL_MAX_CALLS);
    let started = Instant::now();
    while sql_times.len() < SQL_MAX_CALLS
        && (sql_times.len() < SQL_MIN_CALLS || started.elapsed() < SQL_BUDGET)
    {
        let t = Instant::now();
        black_box(rt.block_on(sql_readiness(&mut conn, task_id, now))?);
        sql_times.push(t.elapsed().as_secs_f64());
        rust_times.push(rust_batch(&graph, &snapshots, now, &mut rust, batch) / batch as f64);
    }

    // Context: the server's own execution time of the same call (EXPLAIN ANALYZE, without
    // per-node timing), a `SELECT 1` round trip, and a one-row INSERT committed alone.
    let mut server_times = Vec::with_capacity(CONTEXT_CALLS);
    for _ in 0..CONTEXT_CALLS {
        let plan: Vec<String> = rt.block_on(
            sqlx::query_scalar(
                "EXPLAIN (ANALYZE, TIMING OFF) SELECT * FROM tasker_core_step_readiness($1, $2)",
            )
            .bind(task_id.0)
            .bind(naive(now))
            .fetch_all(&mut conn),
        )?;
        let ms: f64 = plan
            .iter()
            .find_map(|l| l.trim().strip_prefix("Execution Time:"))
            .and_then(|v| v.trim().trim_end_matches("ms").trim().parse().ok())
            .ok_or("EXPLAIN ANALYZE gave no Execution Time")?;
        server_times.push(ms / 1e3);
    }
    let select1_times = time_calls(CONTEXT_CALLS, || {
        rt.block_on(sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&mut conn))
            .map(|v| v == 1)
    })?;
    rt.block_on(
        sqlx::raw_sql("CREATE TABLE bench_commit (id bigserial PRIMARY KEY, at timestamp)")
            .execute(&mut conn),
    )?;
    let commit_times = time_calls(CONTEXT_CALLS, || {
        rt.block_on(sqlx::query("INSERT INTO bench_commit (at) VALUES (now())").execute(&mut conn))
            .map(|r| r.rows_affected() == 1)
    })?;
    let synchronous_commit: String =
        rt.block_on(sqlx::query_scalar("SHOW synchronous_commit").fetch_one(&mut conn))?;
    let server_version: i32 = rt.block_on(
        sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
            .fetch_one(&mut conn),
    )?;
    rt.block_on(conn.close())?;

    let sql_s = Stats::of(&sql_times);
    let rust_s = Stats::of(&rust_times);
    let mix = Mix::of(&snapshots, &rust);
    let ns = |s: f64| format!("{:.1}", s * 1e9);
    Ok(format!(
        "sql-readiness-bench: skipped=0 steps={STEPS} layer_width={LAYER_WIDTH} \
         max_parents={MAX_PARENTS} changes={changes} apply_ms={:.1} transitions={transitions} \
         complete={} in_progress={} error={} exhausted={} pending={} pending_backing_off={} \
         unfinished_with_parents_done={} ready={} same_ready_set={} mismatches={} samples={} \
         sql_median_ns={} sql_p10_ns={} sql_p90_ns={} sql_min_ns={} server_median_ns={} \
         select1_median_ns={} commit_median_ns={} commit_p90_ns={} context_calls={CONTEXT_CALLS} \
         synchronous_commit_on={} server_version_num={server_version} \
         rust_calls_per_sample={batch} rust_median_ns={} rust_p10_ns={} rust_p90_ns={} \
         rust_min_ns={} speedup_median={:.1}",
        apply_seconds * 1e3,
        mix.complete,
        mix.in_progress,
        mix.error,
        mix.exhausted,
        mix.pending,
        mix.pending_backing_off,
        mix.parents_done,
        ready_rust.len(),
        u8::from(same_ready_set),
        mismatches.len(),
        sql_times.len(),
        ns(sql_s.median),
        ns(sql_s.p10),
        ns(sql_s.p90),
        ns(sql_s.min),
        ns(Stats::of(&server_times).median),
        ns(Stats::of(&select1_times).median),
        ns(Stats::of(&commit_times).median),
        ns(Stats::of(&commit_times).p90),
        u8::from(synchronous_commit != "off"),
        ns(rust_s.median),
        ns(rust_s.p10),
        ns(rust_s.p90),
        ns(rust_s.min),
        sql_s.median / rust_s.median,
    ))
}

/// Seconds that `calls` evaluations of the whole task took.
fn rust_batch(
    graph: &TemplateGraph,
    snapshots: &[StepSnapshot],
    now: Timestamp,
    out: &mut Vec<StepReadiness>,
    calls: usize,
) -> f64 {
    let t = Instant::now();
    for _ in 0..calls {
        readiness::evaluate_into(black_box(graph), black_box(snapshots), black_box(now), out);
        black_box(&*out);
    }
    t.elapsed().as_secs_f64()
}

/// Seconds of each of `n` calls of `f`, which must return `Ok(true)`.
fn time_calls<E: std::error::Error + 'static>(
    n: usize,
    mut f: impl FnMut() -> Result<bool, E>,
) -> BenchResult<Vec<f64>> {
    for _ in 0..n.min(10) {
        if !f()? {
            return Err("a context query returned an unexpected answer".into());
        }
    }
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let ok = f()?;
        times.push(t.elapsed().as_secs_f64());
        if !ok {
            return Err("a context query returned an unexpected answer".into());
        }
    }
    Ok(times)
}

struct Stats {
    median: f64,
    p10: f64,
    p90: f64,
    min: f64,
}

impl Stats {
    fn of(values: &[f64]) -> Stats {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        };
        Stats {
            median,
            p10: at(0.1),
            p90: at(0.9),
            min: v[0],
        }
    }
}

/// A layered template of `steps` steps, generated as `crates/resolver/benches/readiness.rs`
/// does (same seed, same DAG).
fn layered_template(steps: usize) -> TaskTemplate {
    let yaml = layered_yaml(
        &format!(
            "name: generated_{steps}\nnamespace_name: generated\nversion: 1.0.0\nstep_templates:\n"
        ),
        steps,
        &format!("    default_retry_limit: {RETRY_LIMIT}\n"),
    );
    TaskTemplate::from_yaml(&yaml, "benches/sql_readiness.rs").expect("generated template parses")
}

/// What happens to one step before the snapshot, as the engine would write it.
#[derive(Clone, Copy)]
enum Story {
    Fresh,
    /// Started and completed `ago` seconds before `now`.
    Complete {
        ago: i64,
    },
    /// Started `ago` seconds before `now`, still running.
    Running {
        ago: i64,
    },
    /// Failed `attempts` times (retried in between), the last failure `ago` seconds ago,
    /// with the handler's `retry_after` (rule 7) when given.
    Failed {
        attempts: u32,
        ago: i64,
        retry_after: Option<i64>,
    },
    /// Failed once with `retry_after` seconds requested `ago` seconds ago, then retried:
    /// pending again, rule 7 decides.
    RetriedWithBackoff {
        ago: i64,
        retry_after: i64,
    },
}

/// The rows of one task caught mid-run (see the file comment), as one batch of changes.
fn mid_run_task(
    template: &TaskTemplate,
    graph: &TemplateGraph,
    task_id: TaskId,
    step_ids: &[StepId],
    now: Timestamp,
) -> Vec<Change> {
    let at = |secs_ago: f64| now.plus_seconds(-secs_ago);
    let created = at(300.0);
    let mut rng = fastrand::Rng::with_seed(SEED);
    let stories: Vec<Story> = (0..graph.len() as u32)
        .map(|i| match graph.level(i) {
            0..=7 => Story::Complete { ago: 60 },
            8 | 9 => match rng.u32(0..10) {
                0..=2 => Story::Complete { ago: 30 },
                3 => Story::Running { ago: 1 },
                // Rule 8's 2 s backoff over: ready when the parents are done.
                4 => Story::Failed {
                    attempts: 1,
                    ago: 10,
                    retry_after: None,
                },
                // Rule 8's 4 s backoff still running.
                5 => Story::Failed {
                    attempts: 2,
                    ago: 1,
                    retry_after: None,
                },
                // At the retry limit: blocked for good.
                6 => Story::Failed {
                    attempts: RETRY_LIMIT,
                    ago: 100,
                    retry_after: None,
                },
                // Rule 7's requested 5 s still running.
                7 => Story::RetriedWithBackoff {
                    ago: 1,
                    retry_after: 5,
                },
                // In error with a requested backoff that is over (rules 7 and 8 both apply).
                8 => Story::Failed {
                    attempts: 1,
                    ago: 20,
                    retry_after: Some(3),
                },
                _ => Story::Fresh,
            },
            _ => Story::Fresh,
        })
        .collect();

    let steps = records::step_records(template, task_id, step_ids, created);
    let mut edges = Vec::new();
    for child in 0..graph.len() as u32 {
        for &parent in graph.parents(child) {
            edges.push((step_ids[parent as usize], step_ids[child as usize]));
        }
    }
    let mut batch = vec![
        Change::CreateTask(Box::new(NewTask {
            task: TaskRecord {
                initiator: Some("benches/sql_readiness.rs".into()),
                ..TaskRecord::new(
                    task_id,
                    template.key(),
                    Arc::new(json!({"bench": "sql_readiness"})),
                    created,
                )
            },
            steps,
            edges,
            identity_hash: None,
        })),
        Change::TaskTransition {
            task_id,
            from: Some(State::Pending),
            to: State::InProgress,
            meta: TransitionMeta::engine("start"),
            at: created,
            complete: None,
            expect_sort_key: None,
        },
    ];

    let mv = |batch: &mut Vec<Change>, i: usize, from, to, reason, at, patch| {
        batch.push(Change::StepTransition {
            task_id,
            step_id: step_ids[i],
            from: Some(from),
            to,
            meta: TransitionMeta::engine(reason),
            at,
            patch,
            expect_sort_key: None,
        });
    };
    let started = StepPatch {
        in_process: Some(true),
        ..StepPatch::default()
    };
    let failed = |attempts: u32, when: Timestamp, retry_after: Option<i64>| StepPatch {
        in_process: Some(false),
        attempts: Some(attempts),
        last_attempted_at: Some(when),
        backoff_request_seconds: Some(retry_after),
        ..StepPatch::default()
    };
    use State::{Complete, Error, InProgress, Pending};
    let start = |batch: &mut Vec<Change>, i: usize, at| {
        mv(
            batch,
            i,
            Pending,
            InProgress,
            "handler_started",
            at,
            started.clone(),
        );
    };
    // An attempt that ends in error at `fail_at`, half a second after it started.
    let fail = |batch: &mut Vec<Change>, i: usize, fail_at: Timestamp, patch| {
        start(batch, i, fail_at.plus_seconds(-0.5));
        mv(
            batch,
            i,
            InProgress,
            Error,
            "handler_failed",
            fail_at,
            patch,
        );
    };
    for (i, story) in stories.iter().enumerate() {
        match *story {
            Story::Fresh => {}
            Story::Complete { ago } => {
                let done = at(ago as f64);
                start(&mut batch, i, at(ago as f64 + 0.5));
                let patch = StepPatch {
                    in_process: Some(false),
                    processed: Some(true),
                    processed_at: Some(done),
                    results: Some(Arc::new(json!({"ok": true}))),
                    ..StepPatch::default()
                };
                mv(
                    &mut batch,
                    i,
                    InProgress,
                    Complete,
                    "handler_succeeded",
                    done,
                    patch,
                );
            }
            Story::Running { ago } => start(&mut batch, i, at(ago as f64)),
            Story::Failed {
                attempts,
                ago,
                retry_after,
            } => {
                for attempt in 1..=attempts {
                    // Earlier attempts an hour apart, the last one `ago` seconds ago.
                    let fail_at = at(ago as f64 + 3600.0 * f64::from(attempts - attempt));
                    if attempt > 1 {
                        mv(
                            &mut batch,
                            i,
                            Error,
                            Pending,
                            "retry",
                            fail_at.plus_seconds(-1.0),
                            StepPatch::default(),
                        );
                    }
                    let requested = if attempt == attempts {
                        retry_after
                    } else {
                        None
                    };
                    fail(&mut batch, i, fail_at, failed(attempt, fail_at, requested));
                }
            }
            Story::RetriedWithBackoff { ago, retry_after } => {
                let fail_at = at(ago as f64);
                fail(
                    &mut batch,
                    i,
                    fail_at,
                    failed(1, fail_at, Some(retry_after)),
                );
                mv(
                    &mut batch,
                    i,
                    Error,
                    Pending,
                    "retry",
                    fail_at.plus_seconds(0.5),
                    StepPatch::default(),
                );
            }
        }
    }
    batch
}

/// One snapshot per template step, from the task as the store reads it back.
fn snapshots(view: &TaskView, graph: &TemplateGraph) -> BenchResult<Vec<StepSnapshot>> {
    let mut out: Vec<Option<StepSnapshot>> = vec![None; graph.len()];
    for s in &view.steps {
        let r = &s.step;
        let i = graph
            .index_of(&r.name)
            .ok_or_else(|| format!("step {} is not in the template", r.name))?
            as usize;
        out[i] = Some(StepSnapshot {
            state: s.state,
            processed: r.processed,
            in_process: r.in_process,
            retryable: r.retryable,
            attempts: r.attempts,
            retry_limit: Some(r.retry_limit),
            backoff_request_seconds: r.backoff_request_seconds,
            last_attempted_at: r.last_attempted_at,
            state_entered_at: s
                .transitions
                .iter()
                .rev()
                .find(|t| t.most_recent)
                .map(|t| t.created_at),
        });
    }
    out.into_iter()
        .enumerate()
        .map(|(i, s)| {
            s.ok_or_else(|| format!("step {} was not read back", graph.name(i as u32)).into())
        })
        .collect()
}

/// One row of `tasker_core_step_readiness`.
struct SqlRow {
    workflow_step_id: i64,
    current_state: String,
    dependencies_satisfied: bool,
    retry_eligible: bool,
    ready: bool,
    next_retry_at: Option<Timestamp>,
}

fn naive(t: Timestamp) -> NaiveDateTime {
    chrono::DateTime::from_timestamp_micros(t.0)
        .expect("bench times are in range")
        .naive_utc()
}

async fn sql_readiness(
    conn: &mut PgConnection,
    task: TaskId,
    now: Timestamp,
) -> Result<Vec<SqlRow>, sqlx::Error> {
    let rows = sqlx::query("SELECT * FROM tasker_core_step_readiness($1, $2)")
        .bind(task.0)
        .bind(naive(now))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(SqlRow {
                workflow_step_id: r.try_get("workflow_step_id")?,
                current_state: r.try_get("current_state")?,
                dependencies_satisfied: r.try_get("dependencies_satisfied")?,
                retry_eligible: r.try_get("retry_eligible")?,
                ready: r.try_get("ready_for_execution")?,
                next_retry_at: r
                    .try_get::<Option<NaiveDateTime>, _>("next_retry_at")?
                    .map(|t| Timestamp(t.and_utc().timestamp_micros())),
            })
        })
        .collect()
}

/// Every column on which the two answers differ, one line per difference.
fn compare(
    step_ids: &[StepId],
    snapshots: &[StepSnapshot],
    rust: &[StepReadiness],
    sql: &[SqlRow],
) -> Vec<String> {
    let mut out = Vec::new();
    if sql.len() != step_ids.len() {
        out.push(format!(
            "SQL returned {} rows for {} steps",
            sql.len(),
            step_ids.len()
        ));
    }
    for (i, id) in step_ids.iter().enumerate() {
        let Some(row) = sql.iter().find(|r| r.workflow_step_id == id.0) else {
            out.push(format!("step {id}: no SQL row"));
            continue;
        };
        let r = &rust[i];
        let pairs = [
            (
                "current_state",
                row.current_state.clone(),
                snapshots[i].state.as_str().to_string(),
            ),
            ("ready", row.ready.to_string(), r.ready.to_string()),
            (
                "dependencies_satisfied",
                row.dependencies_satisfied.to_string(),
                r.dependencies_satisfied.to_string(),
            ),
            (
                "retry_eligible",
                row.retry_eligible.to_string(),
                r.retry_eligible.to_string(),
            ),
            (
                "next_retry_at",
                format!("{:?}", row.next_retry_at),
                format!("{:?}", r.next_retry_at),
            ),
        ];
        for (name, s, r) in pairs {
            if s != r {
                out.push(format!("step {id} (index {i}): {name}: SQL {s}, Rust {r}"));
            }
        }
    }
    out
}

/// How many steps are in each case, for the report.
struct Mix {
    complete: usize,
    in_progress: usize,
    error: usize,
    exhausted: usize,
    pending: usize,
    pending_backing_off: usize,
    parents_done: usize,
}

impl Mix {
    fn of(steps: &[StepSnapshot], out: &[StepReadiness]) -> Mix {
        let count = |state: State| steps.iter().filter(|s| s.state == state).count();
        Mix {
            complete: count(State::Complete),
            in_progress: count(State::InProgress),
            error: count(State::Error),
            exhausted: steps
                .iter()
                .filter(|s| {
                    s.state == State::Error
                        && s.attempts.unwrap_or(0)
                            >= s.retry_limit.unwrap_or(readiness::DEFAULT_RETRY_LIMIT)
                })
                .count(),
            pending: count(State::Pending),
            pending_backing_off: steps
                .iter()
                .zip(out)
                .filter(|(s, r)| s.state == State::Pending && r.next_retry_at.is_some() && !r.ready)
                .count(),
            parents_done: steps
                .iter()
                .zip(out)
                .filter(|(s, r)| r.dependencies_satisfied && !s.state.satisfies_dependents())
                .count(),
        }
    }
}
