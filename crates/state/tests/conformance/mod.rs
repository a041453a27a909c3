//! Helpers for tests/store_conformance.rs: the backends under test, a template, and task
//! builders.
//!
//! - [`SqliteFile`]: a SQLite file in the temp dir, deleted (with its WAL files) when dropped.
//! - [`PgSchema`]: a fresh PostgreSQL schema for one test, reached through a URL whose
//!   `search_path` names it, dropped when the test ends (also when it panics). Tests never
//!   touch any other schema.
//! - [`pg_available`]: whether the server answers; when it does not, a failure under CI and
//!   one loud `SKIPPED:` line otherwise.

#![allow(dead_code)] // not every helper is used by every test binary

/// Runs each case (a `fn(&Db)` of the including file) against every backend, one `#[test]`
/// per case and backend; the including file declares `#[macro_use] mod conformance;`.
/// `suite!(sql: …)` runs the cases on the SQL backends only (SQLite and PostgreSQL).
#[allow(unused_macros)] // not every test binary runs cases on every backend
macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $( #[test] fn $case() { super::$case(&super::Db::memory()); } )*
        }
        suite!(sql: $($case),*);
    };
    (sql: $($case:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $case() { super::$case(&super::Db::sqlite(stringify!($case))); } )*
        }
        mod postgres {
            $(
                #[test]
                fn $case() {
                    if let Some(db) = super::Db::postgres(stringify!($case)) {
                        super::$case(&db);
                    }
                }
            )*
        }
    };
}

pub mod bench;
#[path = "../common/mod.rs"]
mod common;
pub mod db;
pub mod records;
pub mod wire;

use common::CONNECT_TIMEOUT;
pub use common::{pg_url, unique_name, SqliteFile, TABLES};

use serde_json::json;
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection};
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, OnceLock};
use tasker_model::{StepId, TaskId, TaskTemplate, TaskerError, TaskerResult, Timestamp};
use tasker_state::{Change, Durability, NewTask, StepPatch, Store, TaskRecord, TransitionMeta};

/// Runs a future on a small runtime of its own (as the state actor awaits a commit on
/// actix's runtime, not the store's).
pub fn run<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a test runtime")
        .block_on(f)
}

/// Applies a batch and waits for its commit.
pub fn apply(store: &dyn Store, batch: Vec<Change>) -> TaskerResult<()> {
    run(store.apply(batch, Durability::Now))
}

/// Applies a batch of one change, which the store must commit.
pub fn apply_one(store: &dyn Store, change: Change) {
    apply(store, vec![change]).expect("the store commits the change");
}

/// The error the store refuses `batch` with; panics if it commits it.
pub fn refused(store: &dyn Store, batch: Vec<Change>) -> TaskerError {
    apply(store, batch).expect_err("the store refuses the batch")
}

pub const TEMPLATE_YAML: &str = "
name: conformance
namespace_name: tests
version: 1.0.0
description: the store conformance suite's workflow
step_templates:
  - name: fetch
    handler_class: Tests::Fetch
  - name: charge
    handler_class: Tests::Charge
    dependent_system: payments
    default_retry_limit: 5
  - name: ship
    handler_class: Tests::Ship
    depends_on_steps: [fetch, charge]
    skippable: true
";

pub fn template() -> TaskTemplate {
    TaskTemplate::from_yaml(TEMPLATE_YAML, "conformance.yaml").expect("valid template")
}

/// A new task of `template` with ids from `store`, as the engine builds one.
pub fn new_task(store: &dyn Store, template: &TaskTemplate, at: Timestamp) -> NewTask {
    let (task_id, step_ids) = store
        .allocate_ids(template.step_templates.len() as u32)
        .expect("ids");
    new_task_with_ids(template, task_id, &step_ids, at)
}

/// Creates a task of `template` in `store`, in a batch of its own, and returns it.
pub fn create_task(store: &dyn Store, template: &TaskTemplate, at: Timestamp) -> NewTask {
    let new = new_task(store, template, at);
    apply(store, vec![Change::CreateTask(Box::new(new.clone()))]).expect("create the task");
    new
}

pub fn new_task_with_ids(
    template: &TaskTemplate,
    task_id: TaskId,
    step_ids: &[StepId],
    at: Timestamp,
) -> NewTask {
    let steps = records::step_records(template, task_id, step_ids, at);
    let mut edges = Vec::new();
    for (i, st) in template.step_templates.iter().enumerate() {
        for parent in st.parents() {
            let p = template
                .step_templates
                .iter()
                .position(|s| s.name == parent)
                .expect("known parent");
            edges.push((step_ids[p], step_ids[i]));
        }
    }
    NewTask {
        task: TaskRecord {
            initiator: Some("conformance".into()),
            reason: Some("testing".into()),
            tags: json!(["a", "b"]),
            ..TaskRecord::new(
                task_id,
                template.key(),
                Arc::new(json!({"order_id": task_id.0, "note": "ünïcode ✓"})),
                at,
            )
        },
        steps,
        edges,
        identity_hash: None,
    }
}

pub fn step_move(task: TaskId, step: StepId, from: State, to: State, at: Timestamp) -> Change {
    Change::StepTransition {
        task_id: task,
        step_id: step,
        from: Some(from),
        to,
        meta: TransitionMeta::engine("test"),
        at,
        patch: StepPatch::default(),
        expect_sort_key: None,
    }
}

pub fn task_move(task: TaskId, from: State, to: State, at: Timestamp) -> Change {
    Change::TaskTransition {
        task_id: task,
        from: Some(from),
        to,
        meta: TransitionMeta::engine("test"),
        at,
        complete: Some(to == State::Complete),
        expect_sort_key: None,
    }
}

pub use tasker_model::State;

/// Whether PostgreSQL answers (asked once per test binary). When it does not: under CI
/// (`CI` set) this panics, since a green run must mean the SQL stores were checked;
/// elsewhere it prints one `SKIPPED:` line and the PostgreSQL cases return early.
pub fn pg_available() -> bool {
    static ANSWER: OnceLock<Result<(), String>> = OnceLock::new();
    let answer = ANSWER.get_or_init(|| {
        let url = pg_url();
        let error = run(async {
            match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(&url)).await {
                Ok(Ok(conn)) => {
                    let _ = conn.close().await;
                    None
                }
                Ok(Err(e)) => Some(e.to_string()),
                Err(_) => Some(format!("no answer within {CONNECT_TIMEOUT:?}")),
            }
        });
        match error {
            None => Ok(()),
            Some(e) => {
                let message = format!("PostgreSQL unreachable at {url} ({e})");
                if std::env::var_os("CI").is_none() {
                    // Straight to stderr: the test harness captures `eprintln!` of tests
                    // that pass, and this line must be seen.
                    let _ = writeln!(
                        std::io::stderr(),
                        "\n********\nSKIPPED: {message}; the PostgresStore cases did not run \
                         (set TASKER_TEST_DATABASE_URL, or CI to make this a failure)\n********"
                    );
                }
                Err(message)
            }
        }
    });
    match answer {
        Ok(()) => true,
        Err(message) if std::env::var_os("CI").is_some() => {
            panic!("{message}; CI is set, so this is a failure: start the server or point TASKER_TEST_DATABASE_URL at one")
        }
        Err(_) => false,
    }
}

/// A schema made for one test; [`PgSchema::url`] reaches it (its `search_path`).
pub struct PgSchema {
    pub name: String,
}

impl PgSchema {
    /// A fresh schema, or `None` when PostgreSQL is not there (see [`pg_available`]).
    pub fn new(tag: &str) -> Option<PgSchema> {
        if !pg_available() {
            return None;
        }
        let name = unique_name("tasker_conf", tag);
        run(async {
            let mut conn = PgConnection::connect(&pg_url()).await?;
            sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA \"{name}\"")))
                .execute(&mut conn)
                .await?;
            conn.close().await
        })
        .expect("creating a test schema");
        Some(PgSchema { name })
    }

    /// The server's URL with `search_path` set to this schema only.
    pub fn url(&self) -> String {
        let base = pg_url();
        let sep = if base.contains('?') { '&' } else { '?' };
        format!("{base}{sep}options[search_path]={}", self.name)
    }

    /// Runs `sql` in this schema and returns the rows' first column as text.
    pub fn texts(&self, sql: &str) -> Vec<String> {
        let sql = sql.to_string();
        let url = self.url();
        run(async move {
            let mut conn = PgConnection::connect(&url).await?;
            let rows: Vec<String> = sqlx::query_scalar(AssertSqlSafe(sql))
                .fetch_all(&mut conn)
                .await?;
            conn.close().await?;
            Ok::<_, sqlx::Error>(rows)
        })
        .expect("query in the test schema")
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let name = self.name.clone();
        let dropped = run(async {
            let mut conn = PgConnection::connect(&pg_url()).await?;
            sqlx::raw_sql(AssertSqlSafe(format!(
                "SET lock_timeout = '20s'; DROP SCHEMA IF EXISTS \"{name}\" CASCADE"
            )))
            .execute(&mut conn)
            .await?;
            conn.close().await
        });
        if let Err(e) = dropped {
            eprintln!(
                "could not drop test schema {}: {e}; drop it by hand",
                self.name
            );
        }
    }
}

/// A task of the conformance template created at `t` and moved to `state` with its
/// transitions at `t`+1µs, `t`+2µs… (the states the conformance tests need).
pub fn task_in_state(store: &dyn Store, state: State, t: Timestamp) -> TaskId {
    let template = template();
    let new = create_task(store, &template, t);
    let id = new.task.task_id;
    let steps: Vec<_> = new.steps.iter().map(|s| s.step_id).collect();
    use State::*;
    // Each move: the step it moves (None: the task), from, to; in the order written.
    let first = Some(steps[0]);
    let started = [(None, Pending, InProgress)];
    let moves: Vec<(Option<StepId>, State, State)> = match state {
        Pending => vec![],
        Cancelled => vec![(None, Pending, Cancelled)],
        InProgress => [started[0], (first, Pending, InProgress)].to_vec(),
        Complete => started
            .into_iter()
            .chain(steps.iter().flat_map(|s| {
                [
                    (Some(*s), Pending, InProgress),
                    (Some(*s), InProgress, Complete),
                ]
            }))
            .chain([(None, InProgress, Complete)])
            .collect(),
        Error | ResolvedManually => started
            .into_iter()
            .chain([
                (first, Pending, InProgress),
                (first, InProgress, Error),
                (None, InProgress, Error),
            ])
            .chain((state == ResolvedManually).then_some((None, Error, ResolvedManually)))
            .collect(),
    };
    let batch: Vec<Change> = moves
        .into_iter()
        .zip(1..)
        .map(|((step, from, to), n)| {
            let at = Timestamp(t.0 + n);
            match step {
                Some(s) => step_move(id, s, from, to, at),
                None => task_move(id, from, to, at),
            }
        })
        .collect();
    if !batch.is_empty() {
        apply(store, batch).expect("moving the task");
    }
    id
}
