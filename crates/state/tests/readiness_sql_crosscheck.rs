//! The migrations on real databases, and the SQL readiness function cross-checked with the
//! Rust resolver.
//!
//! - `sql_readiness_matches_the_resolver_on_random_tasks`: a few hundred random tasks (DAGs of
//!   1-12 steps, written as template YAML and compiled by `TemplateGraph::compile`; random
//!   states, histories, NULLs and times placed exactly on, or one microsecond off, each
//!   backoff boundary) are written into PostgreSQL; `tasker_core_step_readiness` and
//!   `tasker_resolver::readiness::evaluate` must agree on every step.
//! - `postgres_migrations_*` / `sqlite_migration_*`: the tables, keys, defaults and the partial
//!   unique indexes exist and hold, and running a migration again changes nothing.
//!
//! PostgreSQL tests work in a fresh schema they drop at the end (see `support`). Knobs:
//! `TASKER_TEST_DATABASE_URL`, `TASKER_CROSSCHECK_SEED` (replays a run; every run prints its
//! seed), `TASKER_CROSSCHECK_CASES` (default 400).

mod support;

use sqlx::error::ErrorKind;
use sqlx::postgres::PgConnection;
use sqlx::Connection;
use std::time::Instant;
use support::random_task::{edge_cases, generate, Case};
use support::readiness_rows::{
    describe, differences, insert_case, insert_shared_rows, sql_readiness,
};
use support::{
    pg_connect, PgSchema, SqliteFile, PG_STEP_READINESS, PG_TABLES, SQLITE_TABLES, TABLES,
};
use tasker_model::TaskTemplate;
use tasker_resolver::readiness::{evaluate, StepSnapshot};
use tasker_resolver::TemplateGraph;

const DEFAULT_CASES: usize = 400;

#[tokio::test]
async fn sql_readiness_matches_the_resolver_on_random_tasks() {
    let test = "sql_readiness_matches_the_resolver_on_random_tasks";
    let Some(conn) = pg_connect(test).await else {
        return;
    };
    let started = Instant::now();
    let seed = std::env::var("TASKER_CROSSCHECK_SEED")
        .ok()
        .map(|s| s.parse().expect("TASKER_CROSSCHECK_SEED is a u64"))
        .unwrap_or_else(|| fastrand::u64(..));
    let cases: usize = std::env::var("TASKER_CROSSCHECK_CASES")
        .ok()
        .map(|s| s.parse().expect("TASKER_CROSSCHECK_CASES is a count"))
        .unwrap_or(DEFAULT_CASES);
    eprintln!("{test}: seed {seed} (TASKER_CROSSCHECK_SEED={seed} replays it), {cases} cases");

    let mut rng = fastrand::Rng::with_seed(seed);
    let generated: Vec<Case> = (0..cases).map(|n| generate(&mut rng, n)).collect();

    let mut schema = PgSchema::create(conn, "crosscheck")
        .await
        .expect("create test schema");
    migrate(&mut schema, "").await;

    let mut tx = schema.conn.begin().await.expect("begin");
    insert_shared_rows(&mut tx).await.expect("shared rows");
    for case in &generated {
        insert_case(&mut tx, case)
            .await
            .unwrap_or_else(|e| panic!("inserting case {}: {e}\n{case:#?}", case.number));
    }
    tx.commit().await.expect("commit");

    let mut failures = Vec::new();
    let mut coverage = std::collections::BTreeMap::<&str, usize>::new();
    let mut steps = 0;
    let mut ready = 0;
    for case in &generated {
        let template = TaskTemplate::from_yaml(&case.yaml, "crosscheck.yaml").unwrap_or_else(|e| {
            panic!(
                "case {}: template does not parse: {e}\n{}",
                case.number, case.yaml
            )
        });
        let graph = TemplateGraph::compile(&template).unwrap_or_else(|e| {
            panic!(
                "case {}: template does not compile: {e}\n{}",
                case.number, case.yaml
            )
        });
        for (i, s) in case.steps.iter().enumerate() {
            let mut compiled: Vec<usize> = graph
                .parents(i as u32)
                .iter()
                .map(|&p| p as usize)
                .collect();
            compiled.sort_unstable();
            assert_eq!(
                compiled, s.parents,
                "case {}: compiled parents of {}\n{}",
                case.number, s.name, case.yaml
            );
        }
        let snapshots: Vec<StepSnapshot> = case.steps.iter().map(|s| s.snapshot).collect();
        let rust = evaluate(&graph, &snapshots, case.now);
        let sql = sql_readiness(&mut schema.conn, case)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "case {}: calling tasker_core_step_readiness: {e}",
                    case.number
                )
            });

        steps += case.steps.len();
        ready += rust.iter().filter(|r| r.ready).count();
        for (i, r) in rust.iter().enumerate() {
            for label in edge_cases(case, i, r) {
                *coverage.entry(label).or_default() += 1;
            }
        }
        let diffs = differences(case, &sql, &rust);
        if !diffs.is_empty() {
            failures.push(describe(seed, case, &sql, &rust, &diffs));
        }
    }
    schema.close().await.expect("drop test schema");

    eprintln!(
        "{test}: {cases} cases, {steps} steps ({ready} ready), {} disagreeing cases, {:.2?}",
        failures.len(),
        started.elapsed()
    );
    eprintln!("{test}: edge cases hit: {coverage:?}");
    if !failures.is_empty() {
        const SHOWN: usize = 5;
        panic!(
            "{} of {cases} cases disagree between tasker_core_step_readiness and \
             tasker_resolver::readiness::evaluate (seed {seed}); the first {}:\n{}",
            failures.len(),
            failures.len().min(SHOWN),
            failures[..failures.len().min(SHOWN)].join("\n")
        );
    }
    if cases >= DEFAULT_CASES / 2 {
        let all = [
            "ready",
            "not ready",
            "ready in error",
            "no transition (pending)",
            "older transitions",
            "most_recent row sorts first",
            "rule 3 unmet",
            "rule 3 met by parents",
            "rule 3 parent without transition",
            "rule 3 parent resolved_manually",
            "rule 2 processed",
            "rule 4 attempts NULL",
            "rule 4 retry_limit NULL",
            "rule 4 attempts == limit",
            "rule 5 not retryable",
            "rule 6 in process",
            "rule 7 exactly now",
            "rule 7 1us after now",
            "rule 7 1us before now",
            "rule 7 negative backoff",
            "rules 7 and 8 both apply",
            "rule 7 half set",
            "rule 8 exactly now",
            "rule 8 1us after now",
            "rule 8 attempts NULL",
            "rule 8 attempts 0",
            "rule 8 capped",
            "rule 8 huge attempts",
        ];
        let missed: Vec<&str> = all
            .into_iter()
            .filter(|l| !coverage.contains_key(l))
            .collect();
        assert!(
            missed.is_empty(),
            "seed {seed}: the random cases never reached {missed:?}"
        );
    }
}

/// Rows that every migration check writes: one of each table, defaults left to the schema.
/// Plain literals, so the same text runs on PostgreSQL and SQLite.
const FIXTURE: &str = "
INSERT INTO tasker_task_namespaces (task_namespace_id, name, created_at, updated_at)
    VALUES (1, 'fixture', '2025-06-01 00:00:00', '2025-06-01 00:00:00');
INSERT INTO tasker_dependent_systems (dependent_system_id, name, created_at, updated_at)
    VALUES (1, 'fixture', '2025-06-01 00:00:00', '2025-06-01 00:00:00');
INSERT INTO tasker_named_tasks (named_task_id, name, task_namespace_id, created_at, updated_at)
    VALUES (1, 'fixture', 1, '2025-06-01 00:00:00', '2025-06-01 00:00:00');
INSERT INTO tasker_named_steps (named_step_id, dependent_system_id, name, created_at, updated_at)
    VALUES (1, 1, 'fixture', '2025-06-01 00:00:00', '2025-06-01 00:00:00');
INSERT INTO tasker_named_tasks_named_steps (named_task_id, named_step_id, created_at, updated_at)
    VALUES (1, 1, '2025-06-01 00:00:00', '2025-06-01 00:00:00');
INSERT INTO tasker_tasks (task_id, named_task_id, requested_at, identity_hash, context, created_at, updated_at)
    VALUES (1, 1, '2025-06-01 00:00:00', 'fixture-1', '{}', '2025-06-01 00:00:00', '2025-06-01 00:00:00');
INSERT INTO tasker_workflow_steps (workflow_step_id, task_id, named_step_id, created_at, updated_at)
    VALUES (1, 1, 1, '2025-06-01 00:00:00', '2025-06-01 00:00:00'),
           (2, 1, 1, '2025-06-01 00:00:00', '2025-06-01 00:00:00');
INSERT INTO tasker_workflow_step_edges (from_step_id, to_step_id, name, created_at, updated_at)
    VALUES (1, 2, 'provides', '2025-06-01 00:00:00', '2025-06-01 00:00:00');
INSERT INTO tasker_workflow_step_transitions
    (to_state, from_state, sort_key, most_recent, workflow_step_id, created_at, updated_at)
    VALUES ('in_progress', 'pending', 1, FALSE, 1, '2025-06-01 00:00:01', '2025-06-01 00:00:01'),
           ('complete', 'in_progress', 2, TRUE, 1, '2025-06-01 00:00:02', '2025-06-01 00:00:02');
INSERT INTO tasker_task_transitions (to_state, from_state, sort_key, task_id, created_at, updated_at)
    VALUES ('in_progress', 'pending', 1, 1, '2025-06-01 00:00:01', '2025-06-01 00:00:01');
";

/// Fixture step 1's move complete → error, written by hand with an explicit `id`: the two
/// step cases of [`must_fail`] differ only in its `sort_key` and `most_recent`.
fn step_error_transition(id: u32, sort_key: u32, most_recent: bool) -> String {
    let most_recent = if most_recent { "TRUE" } else { "FALSE" };
    format!(
        "INSERT INTO tasker_workflow_step_transitions
            (id, to_state, from_state, sort_key, most_recent, workflow_step_id, created_at, updated_at)
            VALUES ({id}, 'error', 'complete', {sort_key}, {most_recent}, 1, '2025-06-01 00:00:03', '2025-06-01 00:00:03')"
    )
}

/// Writes the schema must refuse after [`FIXTURE`]: what each breaks, the error it must
/// raise, the statement. Ids are explicit so that only the constraint under test can fail.
fn must_fail() -> [(&'static str, ErrorKind, String); 6] {
    [
        (
            "a second most_recent transition of a step (partial unique index)",
            ErrorKind::UniqueViolation,
            step_error_transition(100, 3, true),
        ),
        (
            "a second most_recent transition of a task (partial unique index)",
            ErrorKind::UniqueViolation,
            "INSERT INTO tasker_task_transitions
            (id, to_state, from_state, sort_key, most_recent, task_id, created_at, updated_at)
            VALUES (100, 'complete', 'in_progress', 2, TRUE, 1, '2025-06-01 00:00:03', '2025-06-01 00:00:03')"
                .into(),
        ),
        (
            "a repeated sort_key of a step",
            ErrorKind::UniqueViolation,
            step_error_transition(101, 2, false),
        ),
        (
            "a repeated identity_hash",
            ErrorKind::UniqueViolation,
            "INSERT INTO tasker_tasks (task_id, named_task_id, requested_at, identity_hash, created_at, updated_at)
            VALUES (2, 1, '2025-06-01 00:00:00', 'fixture-1', '2025-06-01 00:00:00', '2025-06-01 00:00:00')"
                .into(),
        ),
        (
            "a step of a task that does not exist (foreign key)",
            ErrorKind::ForeignKeyViolation,
            "INSERT INTO tasker_workflow_steps (workflow_step_id, task_id, named_step_id, created_at, updated_at)
            VALUES (3, 999, 1, '2025-06-01 00:00:00', '2025-06-01 00:00:00')"
                .into(),
        ),
        (
            "an edge to a step that does not exist (foreign key)",
            ErrorKind::ForeignKeyViolation,
            "INSERT INTO tasker_workflow_step_edges (id, from_step_id, to_step_id, name, created_at, updated_at)
            VALUES (100, 1, 999, 'provides', '2025-06-01 00:00:00', '2025-06-01 00:00:00')"
                .into(),
        ),
    ]
}

/// Writes the schema must accept after [`FIXTURE`]: the most_recent index is partial, so any
/// number of older (most_recent = false) rows may sit beside the current one.
const MUST_SUCCEED: [&str; 2] = [
    "INSERT INTO tasker_workflow_step_transitions
        (to_state, from_state, sort_key, most_recent, workflow_step_id, created_at, updated_at)
        VALUES ('pending', NULL, 10, FALSE, 1, '2025-06-01 00:00:00', '2025-06-01 00:00:00'),
               ('pending', NULL, 11, FALSE, 1, '2025-06-01 00:00:00', '2025-06-01 00:00:00')",
    "INSERT INTO tasker_task_transitions
        (to_state, from_state, sort_key, most_recent, task_id, created_at, updated_at)
        VALUES ('pending', NULL, 10, FALSE, 1, '2025-06-01 00:00:00', '2025-06-01 00:00:00')",
];

/// The defaults TASKER.md names, read back from the fixture rows (all must be true).
const DEFAULTS_HOLD: &str = "
SELECT
    (SELECT retryable AND retry_limit = 3 AND NOT in_process AND NOT processed
            AND attempts IS NULL AND NOT skippable
       FROM tasker_workflow_steps WHERE workflow_step_id = 2),
    (SELECT default_retryable AND default_retry_limit = 3 AND NOT skippable
       FROM tasker_named_tasks_named_steps WHERE named_task_id = 1),
    (SELECT most_recent FROM tasker_task_transitions WHERE task_id = 1),
    (SELECT NOT complete AND version = '0.1.0'
       FROM tasker_tasks JOIN tasker_named_tasks USING (named_task_id) WHERE task_id = 1)
";

/// Rows per table, to show a second migration run kept the data.
fn count_rows_sql() -> String {
    TABLES
        .iter()
        .map(|t| format!("SELECT '{t}' AS t, count(*) AS n FROM {t}"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
        + " ORDER BY t"
}

#[tokio::test]
async fn postgres_migrations_create_the_tables_and_change_nothing_when_run_again() {
    let test = "postgres_migrations_create_the_tables_and_change_nothing_when_run_again";
    let Some(conn) = pg_connect(test).await else {
        return;
    };
    let mut schema = PgSchema::create(conn, "migration")
        .await
        .expect("create test schema");
    migrate(&mut schema, "").await;

    let before = pg_catalog(&mut schema.conn).await;

    for table in TABLES {
        assert!(
            before
                .iter()
                .any(|l| l.starts_with(&format!("column {table}.created_at "))),
            "table {table} missing"
        );
    }
    for expected in [
        "column tasker_tasks.task_id bigint nullable=NO",
        "column tasker_tasks.context jsonb",
        "column tasker_tasks.bypass_steps json ",
        "column tasker_workflow_steps.workflow_step_id bigint nullable=NO",
        "column tasker_workflow_steps.attempts integer nullable=YES default=-",
        "column tasker_workflow_steps.retry_limit integer nullable=YES default=3",
        "column tasker_workflow_steps.retryable boolean nullable=NO default=true",
        "column tasker_workflow_steps.in_process boolean nullable=NO default=false",
        "column tasker_workflow_steps.processed boolean nullable=NO default=false",
        "column tasker_workflow_steps.last_attempted_at timestamp without time zone",
        "column tasker_workflow_step_transitions.created_at timestamp without time zone nullable=NO",
        "column tasker_workflow_step_transitions.metadata jsonb",
        "index CREATE UNIQUE INDEX idx_on_workflow_step_id_most_recent_97d5374ad6",
        "index CREATE UNIQUE INDEX index_tasker_task_transitions_on_task_id_and_most_recent",
        "index CREATE UNIQUE INDEX index_tasks_on_identity_hash",
        "function tasker_core_step_readiness(bigint,timestamp without time zone)",
    ] {
        assert!(
            before.iter().any(|l| l.starts_with(expected)),
            "expected a catalog line starting {expected:?}; have:\n{}",
            before.join("\n")
        );
    }

    check_fixture::<sqlx::Postgres>("PostgreSQL", &mut schema.conn).await;

    let rows_before = pg_counts(&mut schema.conn).await;

    migrate(&mut schema, ", second run").await;
    assert_eq!(
        pg_catalog(&mut schema.conn).await,
        before,
        "a second run changed the schema"
    );
    assert_eq!(
        pg_counts(&mut schema.conn).await,
        rows_before,
        "a second run changed the data"
    );

    schema.close().await.expect("drop test schema");
}

/// Runs the PostgreSQL migrations these tests check: the tables, then the readiness
/// function. `run` tells a failure which run it was.
async fn migrate(schema: &mut PgSchema, run: &str) {
    let tables = schema.run_sql(PG_TABLES).await;
    tables.unwrap_or_else(|e| panic!("tables migration{run}: {e}"));
    let readiness = schema.run_sql(PG_STEP_READINESS).await;
    readiness.unwrap_or_else(|e| panic!("readiness function{run}: {e}"));
}

/// Checks one refused write: it must fail with the expected kind of constraint error.
fn expect_refused(
    db: &str,
    what: &str,
    kind: ErrorKind,
    result: Result<impl std::fmt::Debug, sqlx::Error>,
) {
    match result {
        Err(sqlx::Error::Database(e)) if e.kind() == kind => {}
        other => panic!("{db}: {what}: expected {kind:?}, got {other:?}"),
    }
}

/// On a freshly migrated database, either one: writes [`FIXTURE`], checks that its rows read
/// back the defaults TASKER.md names, then that every refused write is refused and every
/// allowed one allowed.
async fn check_fixture<DB: sqlx::Database>(db: &str, conn: &mut DB::Connection)
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    DB::QueryResult: std::fmt::Debug,
    (bool, bool, bool, bool): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    sqlx::raw_sql(FIXTURE)
        .execute(&mut *conn)
        .await
        .expect("fixture rows");
    let defaults: (bool, bool, bool, bool) = sqlx::query_as(DEFAULTS_HOLD)
        .fetch_one(&mut *conn)
        .await
        .expect("defaults");
    assert_eq!(
        defaults,
        (true, true, true, true),
        "{db}: defaults: steps, template steps, transitions, tasks"
    );
    for (what, kind, sql) in must_fail() {
        let refused = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await;
        expect_refused(db, what, kind, refused);
    }
    for sql in MUST_SUCCEED {
        sqlx::query(sql)
            .execute(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// Columns (types, nullability, defaults), indexes, constraints and functions of the schema.
async fn pg_catalog(conn: &mut PgConnection) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type
                || ' nullable=' || is_nullable || ' default=' || coalesce(column_default, '-')
           FROM information_schema.columns WHERE table_schema = current_schema()
         UNION ALL
         SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = current_schema()
         UNION ALL
         SELECT 'constraint ' || conname || ' ' || pg_get_constraintdef(oid)
           FROM pg_constraint WHERE connamespace = current_schema()::regnamespace
         UNION ALL
         SELECT 'function ' || oid::regprocedure::text || ' ' || oid || ' ' || md5(prosrc)
           FROM pg_proc WHERE pronamespace = current_schema()::regnamespace
         ORDER BY 1",
    )
    .fetch_all(conn)
    .await
    .expect("read catalog")
}

async fn pg_counts(conn: &mut PgConnection) -> Vec<(String, i64)> {
    sqlx::query_as(sqlx::AssertSqlSafe(count_rows_sql()))
        .fetch_all(conn)
        .await
        .expect("count rows")
}

#[tokio::test]
async fn sqlite_migration_creates_every_table_and_changes_nothing_when_run_again() {
    let file = SqliteFile::new("migration");
    let mut conn = file.connect().await.expect("open SQLite file");
    sqlx::raw_sql(SQLITE_TABLES)
        .execute(&mut conn)
        .await
        .expect("SQLite migration");

    const MASTER: &str = "SELECT type || ' ' || name || ': ' || coalesce(sql, '') \
                          FROM sqlite_master ORDER BY type, name";
    let before: Vec<String> = sqlx::query_scalar(MASTER)
        .fetch_all(&mut conn)
        .await
        .expect("sqlite_master");
    for table in TABLES {
        assert!(
            before
                .iter()
                .any(|l| l.starts_with(&format!("table {table}: "))),
            "table {table} missing; have:\n{}",
            before.join("\n")
        );
    }
    for index in [
        "idx_on_workflow_step_id_most_recent_97d5374ad6",
        "index_tasker_task_transitions_on_task_id_and_most_recent",
    ] {
        assert!(
            before
                .iter()
                .any(|l| l.starts_with(&format!("index {index}: "))
                    && l.contains("WHERE most_recent")),
            "partial index {index} missing"
        );
    }

    check_fixture::<sqlx::Sqlite>("SQLite", &mut conn).await;
    let not_json = sqlx::query("UPDATE tasker_tasks SET context = 'not json' WHERE task_id = 1")
        .execute(&mut conn)
        .await;
    assert!(
        not_json.is_err(),
        "SQLite accepted a context that is not JSON"
    );

    let counts_sql = count_rows_sql();
    let rows_before: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(counts_sql.clone()))
        .fetch_all(&mut conn)
        .await
        .expect("count rows");
    sqlx::raw_sql(SQLITE_TABLES)
        .execute(&mut conn)
        .await
        .expect("SQLite migration, second run");
    let after: Vec<String> = sqlx::query_scalar(MASTER)
        .fetch_all(&mut conn)
        .await
        .expect("sqlite_master");
    assert_eq!(after, before, "a second run changed the schema");
    let rows_after: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(counts_sql))
        .fetch_all(&mut conn)
        .await
        .expect("count rows");
    assert_eq!(rows_after, rows_before, "a second run changed the data");
    conn.close().await.expect("close SQLite");
}
