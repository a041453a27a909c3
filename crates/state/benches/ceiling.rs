//! The ceiling of issue 15's workload: how fast each store takes the rows the engine ends
//! with for [`TASKS`] finished 4-step chain tasks when nothing else is in the way, no engine,
//! no Ruby, no per-task round trips (run by `rake bench`, alone with
//! `cargo bench -p tasker-state --bench ceiling`). benches/workload.rb reports its throughput
//! as a fraction of this.
//!
//! One round writes [`TASKS`] new tasks in two transactions, as an engine that batched
//! perfectly would: the first creates them (tasks, steps, edges, claims on PostgreSQL, the
//! tasks' first transition), the second finishes them (each step's transitions through to
//! complete and its columns updated, the tasks' transitions to complete with the
//! `most_recent` flips, `complete` set, claims removed). The rows, columns, metadata and
//! sort_keys are the engine's own for a completed task of fixtures/templates/patterns/linear.yaml
//! (the same as benches/support/workload_fill.rb writes).
//!
//! - PostgreSQL: a fresh schema, [`PostgresStore::open`] creates the tables and registers the
//!   template; then one connection, set-based statements per table
//!   (`INSERT … SELECT … FROM generate_series`, `UPDATE … WHERE id BETWEEN`), ids given
//!   explicitly for tasks and steps as the engine does (from sequences, which nothing else
//!   uses here), the others from their sequences; `synchronous_commit` as the server has it.
//! - SQLite: a fresh file, [`SqliteStore::open_path`] creates the tables and registers the
//!   template; then the C API directly (libsqlite3-sys, the library sqlx links), the file
//!   opened as the store opens it (WAL, `synchronous = NORMAL`, foreign keys on, 32 MiB
//!   cache), prepared statements stepped in a loop inside each transaction.
//!
//! Variants, so that what tasker-core adds to Tasker's schema shows apart from what Tasker's
//! own rows cost: `variant=engine` writes everything above (the ceiling the workload is
//! compared with); `variant=tasker` writes Tasker's rows only (no claims, and tasker-core's
//! own indexes on the tables written dropped: the rows and indexes Tasker itself would
//! write); `variant=tasker+X` is Tasker's rows plus one extra X alone (an index, or `claims`),
//! so each extra's cost is its median minus Tasker's. The extras are read from the schema the
//! store created (tasker-core's `tasker_core_*` indexes on the Tasker tables a round writes),
//! so a new one is measured without editing this. Each variant has its own schema / file;
//! their rounds interleave (round r of every variant, then r + 1) so that a machine busier
//! for a while slows every variant alike.
//!
//! [`ROUNDS`] rounds after one warm-up round; each round's two transactions are timed
//! together. Output: one `ceiling-bench:` line per store and variant (`store=sqlite` /
//! `store=postgres`, `variant=…`) of `key=value` pairs, the `engine` variant first; without
//! PostgreSQL a `SKIPPED:` line and `ceiling-bench: store=postgres skipped=1`, and the process
//! exits 0 (rakelib/bench.rake's reader, benches/support/workload_report.rb, parses these).
//!
//! Knobs: `TASKER_BENCH_DATABASE_URL` (else `TASKER_TEST_DATABASE_URL`, else the local
//! server's `test` database); `TASKER_BENCH_CEILING_FILLED=<schema>` (of that database,
//! filled beforehand): the PostgreSQL part runs the engine's rows only, in a fresh schema and
//! in that one, rounds interleaved (`ceiling/filled.rs`).

use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection, Row};
use std::ffi::CStr;
use std::time::Instant;
use tasker_model::TaskTemplate;
use tasker_state::{PostgresStore, SqliteStore, Store};

mod support;
use support::{database_url, in_fresh_schema, BenchResult, Schema};

#[path = "ceiling/filled.rs"]
mod filled;
#[path = "ceiling/sqlite_c.rs"]
mod sqlite_c;
use sqlite_c::{Db, Stmt, V};

/// Tasks per round.
const TASKS: i64 = 1_000;
const STEPS: i64 = 4;
const ROUNDS: usize = 7;

/// fixtures/templates/patterns/linear.yaml, with its handlers as the workload bench runs them.
const TEMPLATE: &str = "name: linear
namespace_name: fixtures
version: 1.0.0
step_templates:
  - name: step_1
    handler_class: Fixtures::NoopHandler
  - name: step_2
    handler_class: Fixtures::NoopHandler
    depends_on_step: step_1
  - name: step_3
    handler_class: Fixtures::NoopHandler
    depends_on_step: step_2
  - name: step_4
    handler_class: Fixtures::NoopHandler
    depends_on_step: step_3
";

/// A transition the engine writes: to, from, sort_key, most_recent at the end, metadata.
type Transition = (&'static str, &'static str, i32, bool, &'static str);

/// The task's transitions in the creating transaction (its start, `most_recent` until the
/// finishing one flips it) and in the finishing one.
const TASK_CREATED: &[Transition] = &[(
    "in_progress",
    "pending",
    1,
    true,
    r#"{"actor":"engine","reason":"start"}"#,
)];
const TASK_FINISHED: &[Transition] = &[(
    "complete",
    "in_progress",
    2,
    true,
    r#"{"actor":"engine","reason":"all_steps_complete"}"#,
)];
/// Each step's transitions, all in the finishing transaction.
const STEP_FINISHED: &[Transition] = &[
    (
        "in_progress",
        "pending",
        1,
        false,
        r#"{"actor":"engine","reason":"handler_started"}"#,
    ),
    (
        "complete",
        "in_progress",
        2,
        true,
        r#"{"actor":"engine","attempt":1,"duration_ms":0.05,"reason":"handler_succeeded"}"#,
    ),
];

fn main() {
    let template =
        TaskTemplate::from_yaml(TEMPLATE, "benches/ceiling.rs").expect("a valid template");
    match sqlite(&template) {
        Ok(lines) => println!("{lines}"),
        Err(e) => panic!("ceiling bench (SQLite) failed: {e}"),
    }
    let url = database_url();
    let skip = |why| {
        println!(
            "SKIPPED: PostgreSQL unreachable ({why}); the PostgreSQL ceiling did not run \
             (set TASKER_BENCH_DATABASE_URL)"
        );
        println!("ceiling-bench: store=postgres skipped=1 tasks={TASKS} steps_per_task={STEPS}");
    };
    in_fresh_schema(&url, "tasker_core_bench", "ceiling", skip, |rt, schema| {
        postgres(rt, schema, &template)
    });
}

/// Which of tasker-core's own writes a variant makes on top of Tasker's rows. The extras are
/// tasker-core's indexes on the Tasker tables a round writes (found in the schema, so a new
/// one is counted without editing this) and, on PostgreSQL, the claims rows.
#[derive(Clone, PartialEq)]
enum Keep {
    /// Everything the engine writes: the ceiling the workload is compared with.
    All,
    /// Tasker's rows only (tasks, steps, edges, task and step transitions, the steps'
    /// columns), with Tasker's indexes: what Tasker itself would write.
    Tasker,
    /// Tasker's rows and one extra (an index name, or `claims`): what that extra costs.
    One(String),
    /// Everything the engine writes, in the schema named, filled beforehand (`filled.rs`).
    Filled(String),
}

impl Keep {
    fn name(&self) -> String {
        match self {
            Keep::All => "engine".to_string(),
            Keep::Tasker => "tasker".to_string(),
            Keep::One(extra) => format!("tasker+{extra}"),
            Keep::Filled(schema) => format!("engine@{schema}"),
        }
    }

    fn keeps(&self, extra: &str) -> bool {
        match self {
            Keep::All | Keep::Filled(_) => true,
            Keep::Tasker => false,
            Keep::One(kept) => kept == extra,
        }
    }

    /// The engine's rows, Tasker's, then Tasker's with each extra alone.
    fn variants(extras: &[String]) -> Vec<Keep> {
        let mut all = vec![Keep::All, Keep::Tasker];
        all.extend(extras.iter().cloned().map(Keep::One));
        all
    }
}

/// The Tasker tables a round writes; tasker-core's indexes on them are the extras.
const WRITTEN_TABLES: &str = "'tasker_tasks', 'tasker_workflow_steps', \
    'tasker_workflow_step_edges', 'tasker_task_transitions', 'tasker_workflow_step_transitions'";

/// Milliseconds of every round, and the line that reports them.
struct Rounds {
    create_ms: Vec<f64>,
    finish_ms: Vec<f64>,
}

impl Rounds {
    fn new() -> Rounds {
        Rounds {
            create_ms: Vec::new(),
            finish_ms: Vec::new(),
        }
    }

    /// Keeps a round's figures unless it is the warm-up (round 0).
    fn record(&mut self, round: usize, (create_ms, finish_ms): (f64, f64)) {
        if round > 0 {
            self.create_ms.push(create_ms);
            self.finish_ms.push(finish_ms);
        }
    }

    fn line(&self, store: &str, keep: &Keep, extra: &str) -> String {
        let total: Vec<f64> = self
            .create_ms
            .iter()
            .zip(&self.finish_ms)
            .map(|(a, b)| a + b)
            .collect();
        let median_ms = median(&total);
        let min_ms = total.iter().copied().fold(f64::INFINITY, f64::min);
        let max_ms = total.iter().copied().fold(0.0, f64::max);
        format!(
            "ceiling-bench: store={store} variant={} tasks={TASKS} steps_per_task={STEPS} \
             rounds={} median_ms={median_ms:.2} min_ms={min_ms:.2} max_ms={max_ms:.2} \
             create_median_ms={:.2} finish_median_ms={:.2} steps_per_second={:.0}{extra}",
            keep.name(),
            total.len(),
            median(&self.create_ms),
            median(&self.finish_ms),
            (TASKS * STEPS) as f64 / (median_ms / 1e3),
        )
    }
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

// --- PostgreSQL ------------------------------------------------------------------------

/// `(SELECT … FROM (VALUES …))` rows of `transitions`, numbered from 0 as `n`.
fn pg_values(transitions: &[Transition]) -> String {
    transitions
        .iter()
        .enumerate()
        .map(|(n, (to, from, key, recent, meta))| {
            format!("({n}, '{to}', '{from}', {key}, {recent}, '{meta}'::jsonb)")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The statements of one round: (creating, finishing); the claims' insert and delete only
/// with `claims`. `{T}` is the first task id − 1, `{S}` the first step id − 1 (both filled in
/// per round).
fn pg_round_sql(claims: bool) -> (Vec<String>, Vec<String>) {
    let step = format!("({{S}} + {STEPS} * (i - 1) + k + 1)");
    let tasks = format!("generate_series(1, {TASKS}) i");
    let mut create = vec![
        format!(
            "INSERT INTO tasker_tasks (task_id, named_task_id, complete, requested_at, tags, context, \
                identity_hash, created_at, updated_at) \
             SELECT {{T}} + i, {{NT}}, false, localtimestamp, '[]'::jsonb, '{{}}'::jsonb, \
                lpad(to_hex({{T}} + i), 16, '0') || md5(random()::text) || lpad(to_hex(i), 16, '0'), \
                localtimestamp, localtimestamp \
             FROM {tasks}"
        ),
        format!(
            "INSERT INTO tasker_workflow_steps (workflow_step_id, task_id, named_step_id, \
                retryable, retry_limit, in_process, processed, attempts, skippable, created_at, \
                updated_at) \
             SELECT {step}, {{T}} + i, ({{NS}}::int[])[k + 1], true, 3, false, false, 0, false, \
                localtimestamp, localtimestamp \
             FROM {tasks}, generate_series(0, {STEPS} - 1) k"
        ),
        format!(
            "INSERT INTO tasker_workflow_step_edges (from_step_id, to_step_id, name, created_at, \
                updated_at) \
             SELECT {step}, {step} + 1, 'provides', localtimestamp, localtimestamp \
             FROM {tasks}, generate_series(0, {STEPS} - 2) k"
        ),
    ];
    if claims {
        create.push(format!(
            "INSERT INTO tasker_core_task_claims (task_id, owner, claimed_at) \
             SELECT {{T}} + i, 1, localtimestamp FROM {tasks}"
        ));
    }
    if !TASK_CREATED.is_empty() {
        create.push(format!(
            "INSERT INTO tasker_task_transitions (to_state, from_state, metadata, sort_key, \
                most_recent, task_id, created_at, updated_at) \
             SELECT v.to_state, NULLIF(v.from_state, ''), v.metadata, v.sort_key, v.most_recent, \
                {{T}} + i, localtimestamp, localtimestamp \
             FROM {tasks}, (VALUES {}) v(n, to_state, from_state, sort_key, most_recent, metadata) \
             ORDER BY i, v.n",
            pg_values(TASK_CREATED)
        ));
    }
    let mut finish = vec![
        format!(
            "UPDATE tasker_workflow_steps SET in_process = false, processed = true, \
                processed_at = localtimestamp, results = 'null'::jsonb, updated_at = localtimestamp \
             WHERE workflow_step_id BETWEEN {{S}} + 1 AND {{S}} + {}",
            TASKS * STEPS
        ),
        format!(
            "INSERT INTO tasker_workflow_step_transitions (to_state, from_state, metadata, \
                sort_key, most_recent, workflow_step_id, created_at, updated_at) \
             SELECT v.to_state, v.from_state, v.metadata, v.sort_key, v.most_recent, {step}, \
                localtimestamp, localtimestamp \
             FROM {tasks}, generate_series(0, {STEPS} - 1) k, \
                (VALUES {}) v(n, to_state, from_state, sort_key, most_recent, metadata) \
             ORDER BY i, k, v.n",
            pg_values(STEP_FINISHED)
        ),
    ];
    if !TASK_CREATED.is_empty() {
        finish.push(format!(
            "UPDATE tasker_task_transitions SET most_recent = false, updated_at = localtimestamp \
             WHERE task_id BETWEEN {{T}} + 1 AND {{T}} + {TASKS} AND most_recent"
        ));
    }
    finish.extend([
        format!(
            "INSERT INTO tasker_task_transitions (to_state, from_state, metadata, sort_key, \
                most_recent, task_id, created_at, updated_at) \
             SELECT v.to_state, v.from_state, v.metadata, v.sort_key, v.most_recent, {{T}} + i, \
                localtimestamp, localtimestamp \
             FROM {tasks}, (VALUES {}) v(n, to_state, from_state, sort_key, most_recent, metadata) \
             ORDER BY i, v.n",
            pg_values(TASK_FINISHED)
        ),
        format!(
            "UPDATE tasker_tasks SET complete = true, updated_at = localtimestamp \
             WHERE task_id BETWEEN {{T}} + 1 AND {{T}} + {TASKS}"
        ),
    ]);
    if claims {
        finish.push(format!(
            "DELETE FROM tasker_core_task_claims WHERE task_id BETWEEN {{T}} + 1 AND {{T}} + {TASKS}"
        ));
    }
    (create, finish)
}

fn fill_in(sql: &str, t: i64, s: i64, nt: i64, ns: &str) -> String {
    sql.replace("{T}", &t.to_string())
        .replace("{S}", &s.to_string())
        .replace("{NT}", &nt.to_string())
        .replace("{NS}", ns)
}

/// One variant's schema on PostgreSQL: its connection, its statements and its figures.
struct PgVariant {
    keep: Keep,
    conn: PgConnection,
    nt: i64,
    ns: String,
    create: Vec<String>,
    finish: Vec<String>,
    rounds: Rounds,
    /// The largest task and step ids the schema held before the rounds (0, 0 when fresh).
    base: (i64, i64),
    /// Tasks complete before the rounds.
    done_before: i64,
}

/// Creates the tables in the schema `url` points at (as the store does), registers the
/// template, and drops the extras `keep` does not keep. Returns the variant and every extra
/// the schema had.
fn pg_variant(
    rt: &tokio::runtime::Runtime,
    url: &str,
    template: &TaskTemplate,
    keep: Keep,
) -> BenchResult<(PgVariant, Vec<String>)> {
    {
        let store = PostgresStore::open(url)?;
        store.register_template(template)?;
    }
    let mut conn = rt.block_on(PgConnection::connect(url))?;
    let (nt, ns, indexes) = rt.block_on(async {
        let (nt, ns) = template_ids(&mut conn).await?;
        let indexes: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema() \
             AND indexname LIKE 'tasker\\_core\\_%' AND tablename IN ({WRITTEN_TABLES}) \
             ORDER BY indexname"
        )))
        .fetch_all(&mut conn)
        .await?;
        for index in indexes.iter().filter(|i| !keep.keeps(i)) {
            sqlx::raw_sql(AssertSqlSafe(format!("DROP INDEX \"{index}\"")))
                .execute(&mut conn)
                .await?;
        }
        Ok::<_, sqlx::Error>((nt, ns, indexes))
    })?;
    let ns = ns_array(&ns);
    let (create, finish) = pg_round_sql(keep.keeps("claims"));
    let mut extras = vec!["claims".to_string()];
    extras.extend(indexes);
    let variant = PgVariant {
        keep,
        conn,
        nt: i64::from(nt),
        ns,
        create,
        finish,
        rounds: Rounds::new(),
        base: (0, 0),
        done_before: 0,
    };
    Ok((variant, extras))
}

/// The engine variant in `schema`, filled beforehand (`filled.rs`): nothing of it is
/// created, registered or dropped; the rounds' ids follow its own.
fn pg_filled_variant(
    rt: &tokio::runtime::Runtime,
    url: &str,
    schema: &str,
) -> BenchResult<PgVariant> {
    let mut conn = rt.block_on(PgConnection::connect(url))?;
    let (nt, ns, base, done_before) = rt.block_on(async {
        let (nt, ns) = template_ids(&mut conn).await?;
        let base = filled::id_bases(&mut conn).await?;
        let done: i64 = sqlx::query_scalar(COMPLETE_TASKS)
            .fetch_one(&mut conn)
            .await?;
        Ok::<_, sqlx::Error>((nt, ns, base, done))
    })?;
    let (create, finish) = pg_round_sql(true);
    Ok(PgVariant {
        keep: Keep::Filled(schema.to_string()),
        conn,
        nt: i64::from(nt),
        ns: ns_array(&ns),
        create,
        finish,
        rounds: Rounds::new(),
        base,
        done_before,
    })
}

/// Tasks whose current state is complete.
const COMPLETE_TASKS: &str =
    "SELECT count(*) FROM tasker_task_transitions WHERE most_recent AND to_state = 'complete'";

/// The template's named task and its named steps (by step name), as registered.
async fn template_ids(conn: &mut PgConnection) -> Result<(i32, Vec<i32>), sqlx::Error> {
    let nt: i32 =
        sqlx::query_scalar("SELECT named_task_id FROM tasker_named_tasks WHERE name = 'linear'")
            .fetch_one(&mut *conn)
            .await?;
    let ns: Vec<i32> = sqlx::query_scalar(
        "SELECT s.named_step_id FROM tasker_named_tasks_named_steps nts \
         JOIN tasker_named_steps s USING (named_step_id) \
         WHERE nts.named_task_id = $1 ORDER BY s.name",
    )
    .bind(nt)
    .fetch_all(&mut *conn)
    .await?;
    Ok((nt, ns))
}

fn ns_array(ns: &[i32]) -> String {
    format!(
        "ARRAY[{}]",
        ns.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
    )
}

impl PgVariant {
    /// Round `round`'s two transactions: (create, finish) milliseconds.
    fn round(&mut self, rt: &tokio::runtime::Runtime, round: usize) -> BenchResult<(f64, f64)> {
        let (t, s) = (
            self.base.0 + round as i64 * TASKS,
            self.base.1 + round as i64 * TASKS * STEPS,
        );
        let mut timed = [0.0; 2];
        for (ms, sqls) in timed.iter_mut().zip([&self.create, &self.finish]) {
            let sqls: Vec<String> = sqls
                .iter()
                .map(|q| fill_in(q, t, s, self.nt, &self.ns))
                .collect();
            let conn = &mut self.conn;
            *ms = rt.block_on(async move {
                let started = Instant::now();
                let mut tx = conn.begin().await?;
                for q in sqls {
                    sqlx::raw_sql(AssertSqlSafe(q)).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok::<f64, sqlx::Error>(ms_since(started))
            })?;
        }
        Ok((timed[0], timed[1]))
    }

    /// Checks every task of every round ended complete, closes the connection.
    fn finish_up(mut self, rt: &tokio::runtime::Runtime) -> BenchResult<(Keep, Rounds)> {
        let done: i64 =
            rt.block_on(sqlx::query_scalar(COMPLETE_TASKS).fetch_one(&mut self.conn))?;
        if matches!(self.keep, Keep::Filled(_)) {
            rt.block_on(filled::move_sequences(&mut self.conn))?;
        }
        let expected = self.done_before + (ROUNDS as i64 + 1) * TASKS;
        if done != expected {
            return Err(format!(
                "PostgreSQL ({}): {done} tasks complete, expected {expected}",
                self.keep.name()
            )
            .into());
        }
        rt.block_on(self.conn.close())?;
        Ok((self.keep, self.rounds))
    }
}

/// The variants run in schemas beside `schema` (`<schema>_v<n>`), dropped at the end; their
/// rounds interleave (round r of every variant, then round r + 1), so a machine busier for a
/// while slows them all alike.
fn postgres(
    rt: &tokio::runtime::Runtime,
    schema: &Schema,
    template: &TaskTemplate,
) -> BenchResult<String> {
    let mut conn = rt.block_on(PgConnection::connect(&schema.url))?;
    let (name, sync, version) = rt.block_on(async {
        let name: String = sqlx::query_scalar("SELECT current_schema()::text")
            .fetch_one(&mut conn)
            .await?;
        let sync: String = sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(&mut conn)
            .await?;
        let version: i32 = sqlx::query("SELECT current_setting('server_version_num')::int")
            .fetch_one(&mut conn)
            .await
            .and_then(|r| r.try_get(0))?;
        Ok::<_, sqlx::Error>((name, sync, version))
    })?;
    let mut side = Vec::new();
    let outcome = pg_variants(rt, schema, &name, template, &mut conn, &mut side);
    rt.block_on(async {
        for s in &side {
            let drop = format!("DROP SCHEMA IF EXISTS \"{s}\" CASCADE");
            if let Err(e) = sqlx::raw_sql(AssertSqlSafe(drop)).execute(&mut conn).await {
                eprintln!("ceiling: dropping schema {s}: {e}");
            }
        }
        conn.close().await
    })?;
    let lines = outcome?;
    let extra = format!(" synchronous_commit={sync} server_version_num={version}");
    Ok(lines
        .iter()
        .map(|(keep, rounds, statements)| {
            rounds.line(
                "postgres",
                keep,
                &format!("{extra} statements={statements}"),
            )
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

fn pg_variants(
    rt: &tokio::runtime::Runtime,
    schema: &Schema,
    name: &str,
    template: &TaskTemplate,
    conn: &mut PgConnection,
    side: &mut Vec<String>,
) -> BenchResult<Vec<(Keep, Rounds, usize)>> {
    let (first, extras) = pg_variant(rt, &schema.url, template, Keep::All)?;
    let mut variants = vec![first];
    // With a filled schema named, only the engine's rows, fresh against filled (`filled.rs`).
    let filled = std::env::var(filled::SCHEMA_VAR).ok();
    if let Some(filled) = &filled {
        let url = schema
            .url
            .replace(&format!("%3D{name}"), &format!("%3D{filled}"));
        variants.push(pg_filled_variant(rt, &url, filled)?);
    }
    let others = if filled.is_some() {
        Vec::new()
    } else {
        Keep::variants(&extras)
    };
    for (n, keep) in others.into_iter().enumerate().skip(1) {
        let side_name = format!("{name}_v{n}");
        rt.block_on(
            sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA \"{side_name}\"")))
                .execute(&mut *conn),
        )?;
        side.push(side_name.clone());
        let url = schema
            .url
            .replace(&format!("%3D{name}"), &format!("%3D{side_name}"));
        variants.push(pg_variant(rt, &url, template, keep)?.0);
    }
    for round in 0..=ROUNDS {
        for v in &mut variants {
            let timed = v.round(rt, round)?;
            v.rounds.record(round, timed);
        }
    }
    variants
        .into_iter()
        .map(|v| {
            let statements = v.create.len() + v.finish.len();
            v.finish_up(rt)
                .map(|(keep, rounds)| (keep, rounds, statements))
        })
        .collect()
}

// --- SQLite ----------------------------------------------------------------------------

/// SQLite's DATETIME text as the store writes it.
fn sqlite_now() -> String {
    chrono::Utc::now()
        .naive_utc()
        .format("%Y-%m-%d %H:%M:%S%.6f")
        .to_string()
}

fn sqlite(template: &TaskTemplate) -> BenchResult<String> {
    let dir = std::env::temp_dir().join(format!("tasker_core_ceiling_{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let outcome = sqlite_in(&dir, template);
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

/// A file of the variant's own in `dir`, its tables created by the store and the template
/// registered, the extras `keep` does not keep dropped; opened as the store opens it. Returns
/// it with every extra the file had.
fn sqlite_variant(
    dir: &std::path::Path,
    n: usize,
    template: &TaskTemplate,
    keep: &Keep,
) -> BenchResult<(Db, Vec<String>)> {
    let path = dir.join(format!("ceiling_{n}.sqlite3"));
    {
        let store = SqliteStore::open_path(&path)?;
        store.register_template(template)?;
    }
    let db = Db::open(&path)?;
    db.exec(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
         PRAGMA busy_timeout = 10000; PRAGMA cache_size = -32768;",
    )?;
    let extras = db.strings(&format!(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name GLOB 'tasker_core_*' \
         AND tbl_name IN ({WRITTEN_TABLES}) ORDER BY name"
    ))?;
    for index in extras.iter().filter(|i| !keep.keeps(i)) {
        db.exec(&format!("DROP INDEX \"{index}\""))?;
    }
    Ok((db, extras))
}

fn sqlite_in(dir: &std::path::Path, template: &TaskTemplate) -> BenchResult<String> {
    let (first, extras) = sqlite_variant(dir, 0, template, &Keep::All)?;
    let keeps = Keep::variants(&extras);
    let mut dbs = vec![first];
    for (n, keep) in keeps.iter().enumerate().skip(1) {
        dbs.push(sqlite_variant(dir, n, template, keep)?.0);
    }
    let mut writers = dbs
        .iter()
        .map(SqliteWriter::new)
        .collect::<BenchResult<Vec<_>>>()?;
    let mut rounds: Vec<Rounds> = keeps.iter().map(|_| Rounds::new()).collect();
    for round in 0..=ROUNDS {
        for (w, r) in writers.iter_mut().zip(&mut rounds) {
            r.record(round, w.round(round)?);
        }
    }
    drop(writers);
    // SAFETY: the library's version string is static and NUL-terminated.
    let version = unsafe { CStr::from_ptr(libsqlite3_sys::sqlite3_libversion()) };
    let extra = format!(" sqlite_version={}", version.to_string_lossy());
    Ok(keeps
        .iter()
        .zip(&rounds)
        .map(|(keep, r)| r.line("sqlite", keep, &extra))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// One SQLite file's prepared statements, and the rows a round writes through them.
struct SqliteWriter<'db> {
    db: &'db Db,
    nt: i64,
    ns: Vec<i64>,
    insert_task: Stmt<'db>,
    insert_step: Stmt<'db>,
    insert_edge: Stmt<'db>,
    insert_task_transition: Stmt<'db>,
    flip_task: Stmt<'db>,
    insert_step_transition: Stmt<'db>,
    update_step: Stmt<'db>,
    complete_task: Stmt<'db>,
}

impl<'db> SqliteWriter<'db> {
    fn new(db: &'db Db) -> BenchResult<SqliteWriter<'db>> {
        let (mut nt, mut ns) = (0i64, Vec::new());
        {
            let q = db.prepare(
                "SELECT nts.named_task_id, s.named_step_id FROM tasker_named_tasks_named_steps nts \
                 JOIN tasker_named_steps s USING (named_step_id) \
                 JOIN tasker_named_tasks t USING (named_task_id) WHERE t.name = 'linear' \
                 ORDER BY s.name",
            )?;
            // SAFETY: a live statement, stepped until it has no more rows; columns 0 and 1 exist.
            unsafe {
                while libsqlite3_sys::sqlite3_step(q.raw) == libsqlite3_sys::SQLITE_ROW {
                    nt = libsqlite3_sys::sqlite3_column_int64(q.raw, 0);
                    ns.push(libsqlite3_sys::sqlite3_column_int64(q.raw, 1));
                }
            }
        }
        if ns.len() != STEPS as usize {
            return Err(format!("SQLite: {} named steps, expected {STEPS}", ns.len()).into());
        }
        Ok(SqliteWriter {
            db,
            nt,
            ns,
            insert_task: db.prepare(
                "INSERT INTO tasker_tasks (task_id, named_task_id, complete, requested_at, tags, \
                    context, identity_hash, created_at, updated_at) \
                 VALUES (?1, ?2, 0, ?3, '[]', '{}', ?4, ?3, ?3)",
            )?,
            insert_step: db.prepare(
                "INSERT INTO tasker_workflow_steps (workflow_step_id, task_id, named_step_id, \
                    retryable, retry_limit, in_process, processed, attempts, skippable, created_at, \
                    updated_at) \
                 VALUES (?1, ?2, ?3, 1, 3, 0, 0, 0, 0, ?4, ?4)",
            )?,
            insert_edge: db.prepare(
                "INSERT INTO tasker_workflow_step_edges (from_step_id, to_step_id, name, \
                    created_at, updated_at) VALUES (?1, ?2, 'provides', ?3, ?3)",
            )?,
            insert_task_transition: db.prepare(
                "INSERT INTO tasker_task_transitions (to_state, from_state, metadata, sort_key, \
                    most_recent, task_id, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
            )?,
            flip_task: db.prepare(
                "UPDATE tasker_task_transitions SET most_recent = 0, updated_at = ?2 \
                 WHERE task_id = ?1 AND most_recent",
            )?,
            insert_step_transition: db.prepare(
                "INSERT INTO tasker_workflow_step_transitions (to_state, from_state, metadata, \
                    sort_key, most_recent, workflow_step_id, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
            )?,
            update_step: db.prepare(
                "UPDATE tasker_workflow_steps SET in_process = 0, processed = 1, \
                    processed_at = ?2, results = 'null', updated_at = ?2 \
                 WHERE workflow_step_id = ?1",
            )?,
            complete_task: db.prepare(
                "UPDATE tasker_tasks SET complete = 1, updated_at = ?2 WHERE task_id = ?1",
            )?,
        })
    }

    /// Round `round`'s two transactions: (create, finish) milliseconds.
    fn round(&mut self, round: usize) -> BenchResult<(f64, f64)> {
        let (t0, s0) = (round as i64 * TASKS, round as i64 * TASKS * STEPS);
        let started = Instant::now();
        self.db.exec("BEGIN IMMEDIATE")?;
        for i in 1..=TASKS {
            let now = sqlite_now();
            let task = t0 + i;
            let hash = format!("{task:016x}{:048x}", fastrand::u128(..) >> 32);
            self.insert_task
                .run(&[V::I(task), V::I(self.nt), V::T(&now), V::T(&hash)])?;
            for k in 0..STEPS {
                let step = s0 + STEPS * (i - 1) + k + 1;
                let named = V::I(self.ns[k as usize]);
                self.insert_step
                    .run(&[V::I(step), V::I(task), named, V::T(&now)])?;
                if k > 0 {
                    self.insert_edge
                        .run(&[V::I(step - 1), V::I(step), V::T(&now)])?;
                }
            }
            self.insert_task_transition
                .insert_history(TASK_CREATED, task, &now)?;
        }
        self.db.exec("COMMIT")?;
        let created = ms_since(started);

        let started = Instant::now();
        self.db.exec("BEGIN IMMEDIATE")?;
        for i in 1..=TASKS {
            let now = sqlite_now();
            let task = t0 + i;
            for k in 0..STEPS {
                let step = s0 + STEPS * (i - 1) + k + 1;
                self.insert_step_transition
                    .insert_history(STEP_FINISHED, step, &now)?;
                self.update_step.run(&[V::I(step), V::T(&now)])?;
            }
            if !TASK_CREATED.is_empty() {
                self.flip_task.run(&[V::I(task), V::T(&now)])?;
            }
            self.insert_task_transition
                .insert_history(TASK_FINISHED, task, &now)?;
            self.complete_task.run(&[V::I(task), V::T(&now)])?;
        }
        self.db.exec("COMMIT")?;
        Ok((created, ms_since(started)))
    }
}
