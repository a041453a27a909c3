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
//! [`ROUNDS`] rounds after one warm-up round; each round's two transactions are timed
//! together. Output: one `ceiling-bench:` line per store (`store=sqlite` / `store=postgres`)
//! of `key=value` pairs; without PostgreSQL a `SKIPPED:` line and
//! `ceiling-bench: store=postgres skipped=1`, and the process exits 0.
//!
//! Knobs: `TASKER_BENCH_DATABASE_URL` (else `TASKER_TEST_DATABASE_URL`, else the local
//! server's `test` database).

use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection, Row};
use std::ffi::{CStr, CString};
use std::time::Instant;
use tasker_model::TaskTemplate;
use tasker_state::{PostgresStore, SqliteStore, Store};

mod support;
use support::{database_url, in_fresh_schema, BenchResult, Schema};

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
        Ok(line) => println!("{line}"),
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

    fn line(&self, store: &str, extra: &str) -> String {
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
            "ceiling-bench: store={store} tasks={TASKS} steps_per_task={STEPS} rounds={} \
             median_ms={median_ms:.2} min_ms={min_ms:.2} max_ms={max_ms:.2} \
             create_median_ms={:.2} finish_median_ms={:.2} steps_per_second={:.0}{extra}",
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

/// The statements of one round: (creating, finishing). `{T}` is the first task id − 1, `{S}`
/// the first step id − 1 (both filled in per round).
fn pg_round_sql() -> (Vec<String>, Vec<String>) {
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
        format!(
            "INSERT INTO tasker_core_task_claims (task_id, owner, claimed_at) \
             SELECT {{T}} + i, 1, localtimestamp FROM {tasks}"
        ),
    ];
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
        format!("DELETE FROM tasker_core_task_claims WHERE task_id BETWEEN {{T}} + 1 AND {{T}} + {TASKS}"),
    ]);
    (create, finish)
}

fn fill_in(sql: &str, t: i64, s: i64, nt: i64, ns: &str) -> String {
    sql.replace("{T}", &t.to_string())
        .replace("{S}", &s.to_string())
        .replace("{NT}", &nt.to_string())
        .replace("{NS}", ns)
}

fn postgres(
    rt: &tokio::runtime::Runtime,
    schema: &Schema,
    template: &TaskTemplate,
) -> BenchResult<String> {
    {
        let store = PostgresStore::open(&schema.url)?;
        store.register_template(template)?;
    }
    let mut conn = rt.block_on(PgConnection::connect(&schema.url))?;
    let (nt, ns) = rt.block_on(async {
        let nt: i32 = sqlx::query_scalar(
            "SELECT named_task_id FROM tasker_named_tasks WHERE name = 'linear'",
        )
        .fetch_one(&mut conn)
        .await?;
        let ns: Vec<i32> = sqlx::query_scalar(
            "SELECT s.named_step_id FROM tasker_named_tasks_named_steps nts \
             JOIN tasker_named_steps s USING (named_step_id) \
             WHERE nts.named_task_id = $1 ORDER BY s.name",
        )
        .bind(nt)
        .fetch_all(&mut conn)
        .await?;
        let sync: String = sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(&mut conn)
            .await?;
        Ok::<_, sqlx::Error>((nt, (ns, sync)))
    })?;
    let (ns, sync) = ns;
    let ns = format!(
        "ARRAY[{}]",
        ns.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
    );
    let (create, finish) = pg_round_sql();
    let mut rounds = Rounds::new();
    for round in 0..=ROUNDS {
        let (t, s) = (round as i64 * TASKS, round as i64 * TASKS * STEPS);
        let run = |sqls: &[String], conn: &mut PgConnection| {
            let sqls: Vec<String> = sqls
                .iter()
                .map(|q| fill_in(q, t, s, i64::from(nt), &ns))
                .collect();
            rt.block_on(async move {
                let started = Instant::now();
                let mut tx = conn.begin().await?;
                for q in sqls {
                    sqlx::raw_sql(AssertSqlSafe(q)).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok::<f64, sqlx::Error>(ms_since(started))
            })
        };
        let c = run(&create, &mut conn)?;
        let f = run(&finish, &mut conn)?;
        if round > 0 {
            rounds.create_ms.push(c);
            rounds.finish_ms.push(f);
        }
    }
    let done: i64 = rt.block_on(
        sqlx::query_scalar(
            "SELECT count(*) FROM tasker_task_transitions WHERE most_recent AND to_state = 'complete'",
        )
        .fetch_one(&mut conn),
    )?;
    let expected = (ROUNDS as i64 + 1) * TASKS;
    if done != expected {
        return Err(format!("PostgreSQL: {done} tasks complete, expected {expected}").into());
    }
    let version: i32 = rt.block_on(async {
        sqlx::query("SELECT current_setting('server_version_num')::int")
            .fetch_one(&mut conn)
            .await
            .and_then(|r| r.try_get(0))
    })?;
    rt.block_on(conn.close())?;
    Ok(rounds.line(
        "postgres",
        &format!(
            " synchronous_commit={sync} server_version_num={version} statements={}",
            create.len() + finish.len()
        ),
    ))
}

// --- SQLite ----------------------------------------------------------------------------

/// An SQLite connection through the C API.
struct Db(*mut libsqlite3_sys::sqlite3);

/// A prepared statement of a [`Db`]; finalized on drop.
struct Stmt<'db> {
    raw: *mut libsqlite3_sys::sqlite3_stmt,
    db: &'db Db,
}

impl Db {
    fn open(path: &std::path::Path) -> BenchResult<Db> {
        let path = CString::new(path.to_str().ok_or("a UTF-8 path")?)?;
        let mut raw = std::ptr::null_mut();
        // SAFETY: a NUL-terminated path and an out pointer; the handle is closed in Drop.
        let rc = unsafe {
            libsqlite3_sys::sqlite3_open_v2(
                path.as_ptr(),
                &mut raw,
                libsqlite3_sys::SQLITE_OPEN_READWRITE,
                std::ptr::null(),
            )
        };
        let db = Db(raw);
        if rc != libsqlite3_sys::SQLITE_OK {
            return Err(db.error("open").into());
        }
        Ok(db)
    }

    fn error(&self, what: &str) -> String {
        // SAFETY: the handle is open; sqlite3_errmsg returns a NUL-terminated string it owns.
        let msg = unsafe { CStr::from_ptr(libsqlite3_sys::sqlite3_errmsg(self.0)) };
        format!("{what}: {}", msg.to_string_lossy())
    }

    fn exec(&self, sql: &str) -> BenchResult<()> {
        let c = CString::new(sql)?;
        // SAFETY: the handle is open and the SQL NUL-terminated; no callback.
        let rc = unsafe {
            libsqlite3_sys::sqlite3_exec(
                self.0,
                c.as_ptr(),
                None,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if rc != libsqlite3_sys::SQLITE_OK {
            return Err(self.error(sql).into());
        }
        Ok(())
    }

    fn prepare(&self, sql: &str) -> BenchResult<Stmt<'_>> {
        let c = CString::new(sql)?;
        let mut raw = std::ptr::null_mut();
        // SAFETY: the handle is open, the SQL NUL-terminated (-1: read to the NUL).
        let rc = unsafe {
            libsqlite3_sys::sqlite3_prepare_v2(
                self.0,
                c.as_ptr(),
                -1,
                &mut raw,
                std::ptr::null_mut(),
            )
        };
        if rc != libsqlite3_sys::SQLITE_OK {
            return Err(self.error(sql).into());
        }
        Ok(Stmt { raw, db: self })
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        // SAFETY: every statement borrowed the Db and was finalized before this runs.
        unsafe { libsqlite3_sys::sqlite3_close(self.0) };
    }
}

/// A value to bind.
enum V<'a> {
    I(i64),
    T(&'a str),
}

impl Stmt<'_> {
    /// Binds `values` to ?1, ?2, …, steps the statement to its end and resets it.
    fn run(&mut self, values: &[V<'_>]) -> BenchResult<()> {
        for (i, v) in values.iter().enumerate() {
            let at = i as std::ffi::c_int + 1;
            // SAFETY: a live statement; text is copied by SQLite (SQLITE_TRANSIENT).
            let rc = unsafe {
                match v {
                    V::I(n) => libsqlite3_sys::sqlite3_bind_int64(self.raw, at, *n),
                    V::T(s) => libsqlite3_sys::sqlite3_bind_text(
                        self.raw,
                        at,
                        s.as_ptr().cast(),
                        s.len() as std::ffi::c_int,
                        libsqlite3_sys::SQLITE_TRANSIENT(),
                    ),
                }
            };
            if rc != libsqlite3_sys::SQLITE_OK {
                return Err(self.db.error("bind").into());
            }
        }
        // SAFETY: a live statement with its parameters bound.
        let rc = unsafe { libsqlite3_sys::sqlite3_step(self.raw) };
        // SAFETY: as above; a reset keeps the bindings, which the next run overwrites.
        unsafe { libsqlite3_sys::sqlite3_reset(self.raw) };
        if rc != libsqlite3_sys::SQLITE_DONE {
            return Err(self.db.error("step").into());
        }
        Ok(())
    }

    /// Runs this transitions insert (to, from, metadata, sort_key, most_recent, owner, at)
    /// once for each of `history`, all owned by `owner` and written at `now`.
    fn insert_history(&mut self, history: &[Transition], owner: i64, now: &str) -> BenchResult<()> {
        for (to, from, key, recent, meta) in history {
            self.run(&[
                V::T(to),
                V::T(from),
                V::T(meta),
                V::I(i64::from(*key)),
                V::I(i64::from(*recent)),
                V::I(owner),
                V::T(now),
            ])?;
        }
        Ok(())
    }
}

impl Drop for Stmt<'_> {
    fn drop(&mut self) {
        // SAFETY: the statement was prepared on a Db that outlives it.
        unsafe { libsqlite3_sys::sqlite3_finalize(self.raw) };
    }
}

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
    let path = dir.join("ceiling.sqlite3");
    let outcome = sqlite_in(&path, template);
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

fn sqlite_in(path: &std::path::Path, template: &TaskTemplate) -> BenchResult<String> {
    {
        let store = SqliteStore::open_path(path)?;
        store.register_template(template)?;
    }
    let db = Db::open(path)?;
    db.exec(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
         PRAGMA busy_timeout = 10000; PRAGMA cache_size = -32768;",
    )?;
    let (nt, ns) = {
        let mut nt = 0i64;
        let mut ns = Vec::new();
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
        (nt, ns)
    };
    if ns.len() != STEPS as usize {
        return Err(format!("SQLite: {} named steps, expected {STEPS}", ns.len()).into());
    }

    let mut insert_task = db.prepare(
        "INSERT INTO tasker_tasks (task_id, named_task_id, complete, requested_at, tags, context, \
            identity_hash, created_at, updated_at) VALUES (?1, ?2, 0, ?3, '[]', '{}', ?4, ?3, ?3)",
    )?;
    let mut insert_step = db.prepare(
        "INSERT INTO tasker_workflow_steps (workflow_step_id, task_id, named_step_id, retryable, \
            retry_limit, in_process, processed, attempts, skippable, created_at, updated_at) \
         VALUES (?1, ?2, ?3, 1, 3, 0, 0, 0, 0, ?4, ?4)",
    )?;
    let mut insert_edge = db.prepare(
        "INSERT INTO tasker_workflow_step_edges (from_step_id, to_step_id, name, created_at, \
            updated_at) VALUES (?1, ?2, 'provides', ?3, ?3)",
    )?;
    let mut insert_task_transition = db.prepare(
        "INSERT INTO tasker_task_transitions (to_state, from_state, metadata, sort_key, \
            most_recent, task_id, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
    )?;
    let mut flip_task = db.prepare(
        "UPDATE tasker_task_transitions SET most_recent = 0, updated_at = ?2 \
         WHERE task_id = ?1 AND most_recent",
    )?;
    let mut insert_step_transition = db.prepare(
        "INSERT INTO tasker_workflow_step_transitions (to_state, from_state, metadata, sort_key, \
            most_recent, workflow_step_id, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
    )?;
    let mut update_step = db.prepare(
        "UPDATE tasker_workflow_steps SET in_process = 0, processed = 1, processed_at = ?2, \
            results = 'null', updated_at = ?2 WHERE workflow_step_id = ?1",
    )?;
    let mut complete_task =
        db.prepare("UPDATE tasker_tasks SET complete = 1, updated_at = ?2 WHERE task_id = ?1")?;

    let mut rounds = Rounds::new();
    for round in 0..=ROUNDS {
        let (t0, s0) = (round as i64 * TASKS, round as i64 * TASKS * STEPS);
        let started = Instant::now();
        db.exec("BEGIN IMMEDIATE")?;
        for i in 1..=TASKS {
            let now = sqlite_now();
            let task = t0 + i;
            let hash = format!("{task:016x}{:048x}", fastrand::u128(..) >> 32);
            insert_task.run(&[V::I(task), V::I(nt), V::T(&now), V::T(&hash)])?;
            for k in 0..STEPS {
                let step = s0 + STEPS * (i - 1) + k + 1;
                insert_step.run(&[V::I(step), V::I(task), V::I(ns[k as usize]), V::T(&now)])?;
                if k > 0 {
                    insert_edge.run(&[V::I(step - 1), V::I(step), V::T(&now)])?;
                }
            }
            insert_task_transition.insert_history(TASK_CREATED, task, &now)?;
        }
        db.exec("COMMIT")?;
        let created = ms_since(started);

        let started = Instant::now();
        db.exec("BEGIN IMMEDIATE")?;
        for i in 1..=TASKS {
            let now = sqlite_now();
            let task = t0 + i;
            for k in 0..STEPS {
                let step = s0 + STEPS * (i - 1) + k + 1;
                insert_step_transition.insert_history(STEP_FINISHED, step, &now)?;
                update_step.run(&[V::I(step), V::T(&now)])?;
            }
            if !TASK_CREATED.is_empty() {
                flip_task.run(&[V::I(task), V::T(&now)])?;
            }
            insert_task_transition.insert_history(TASK_FINISHED, task, &now)?;
            complete_task.run(&[V::I(task), V::T(&now)])?;
        }
        db.exec("COMMIT")?;
        let finished = ms_since(started);
        if round > 0 {
            rounds.create_ms.push(created);
            rounds.finish_ms.push(finished);
        }
    }
    // SAFETY: the library's version string is static and NUL-terminated.
    let version = unsafe { CStr::from_ptr(libsqlite3_sys::sqlite3_libversion()) };
    Ok(rounds.line(
        "sqlite",
        &format!(" sqlite_version={}", version.to_string_lossy()),
    ))
}
