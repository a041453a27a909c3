//! Retention on every backend (`MemoryStore`, `SqliteStore`, `PostgresStore`, through the
//! conformance harness): `purge_finished` deletes exactly the finished tasks older than the
//! cutoff, oldest first and a batch at a time, with every row of theirs, and nothing else —
//! unfinished tasks of any age, tasks in error, and recent finished tasks read back as they
//! were, and the tables hold exactly their rows.
//!
//! PostgreSQL: `TASKER_TEST_DATABASE_URL` (a fresh schema per test, see `conformance`).

#[macro_use]
mod conformance;

use conformance::db::Db;
use conformance::*;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};
use std::collections::HashMap;
use tasker_model::{TaskId, Timestamp};
use tasker_state::{Store, TaskView};

suite!(
    deletes_exactly_the_expired_finished_tasks_and_all_their_rows,
    a_deleted_task_cannot_be_changed_and_the_others_still_can,
    two_stores_purging_at_once_delete_each_task_once,
    an_exported_batch_is_read_then_deleted_if_still_expired,
);

fn at(micros: i64) -> Timestamp {
    Timestamp(1_700_000_000_000_001 + micros)
}

/// The cutoff of every case: tasks that finished before it are expired.
const CUTOFF: i64 = 10_000;

/// A task of the conformance template moved to `state` with its transitions at `t`, `t+1`…
fn task_in(store: &dyn Store, state: State, t: i64) -> TaskId {
    task_in_state(store, state, at(t))
}

/// Rows per table, where the backend has tables.
fn row_counts(db: &Db) -> Option<HashMap<&'static str, i64>> {
    const COUNTED: [&str; 6] = [
        "tasker_tasks",
        "tasker_workflow_steps",
        "tasker_workflow_step_edges",
        "tasker_task_transitions",
        "tasker_workflow_step_transitions",
        "tasker_task_annotations",
    ];
    match db {
        Db::Memory(_) => None,
        Db::Sqlite(file) => Some(run(async {
            let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&file.path)
                .connect()
                .await
                .expect("open the file");
            let mut counts = HashMap::new();
            for t in COUNTED {
                let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM {t}")))
                    .fetch_one(&mut conn)
                    .await
                    .expect("count");
                counts.insert(t, n);
            }
            conn.close().await.expect("close");
            counts
        })),
        Db::Postgres(schema) => {
            let mut counts = HashMap::new();
            for t in COUNTED.iter().chain(&["tasker_core_task_claims"]) {
                let n = schema.texts(&format!("SELECT COUNT(*)::text FROM {t}"));
                counts.insert(*t, n[0].parse().expect("a count"));
            }
            Some(counts)
        }
    }
}

/// The rows `views` make up, table by table (what the tables must hold after a purge).
fn rows_of(views: &[TaskView], annotations: i64) -> HashMap<&'static str, i64> {
    let sum = |f: &dyn Fn(&TaskView) -> usize| views.iter().map(f).sum::<usize>() as i64;
    HashMap::from([
        ("tasker_tasks", views.len() as i64),
        ("tasker_workflow_steps", sum(&|v| v.steps.len())),
        (
            "tasker_workflow_step_edges",
            sum(&|v| v.steps.iter().map(|s| s.parents.len()).sum()),
        ),
        ("tasker_task_transitions", sum(&|v| v.transitions.len())),
        (
            "tasker_workflow_step_transitions",
            sum(&|v| v.steps.iter().map(|s| s.transitions.len()).sum()),
        ),
        ("tasker_task_annotations", annotations),
    ])
}

/// An annotation on `task` (Tasker's table, with a foreign key to the task), so the purge
/// must delete it too.
fn annotate(db: &Db, task: TaskId) {
    let statements = [
        "INSERT INTO tasker_annotation_types (name, created_at, updated_at) \
         VALUES ('retention-test', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            .to_string(),
        format!(
            "INSERT INTO tasker_task_annotations \
             (task_id, annotation_type_id, annotation, created_at, updated_at) \
             SELECT {task}, annotation_type_id, '{{\"note\": 1}}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP \
             FROM tasker_annotation_types WHERE name = 'retention-test'"
        ),
    ];
    match db {
        Db::Memory(_) => {}
        Db::Sqlite(file) => run(async {
            let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&file.path)
                .connect()
                .await
                .expect("open the file");
            for s in &statements {
                sqlx::query(AssertSqlSafe(s.clone()))
                    .execute(&mut conn)
                    .await
                    .expect("annotate");
            }
            conn.close().await.expect("close");
        }),
        Db::Postgres(schema) => {
            for s in &statements {
                schema.texts(&format!("WITH done AS ({s} RETURNING 1) SELECT 'ok'"));
            }
        }
    }
}

fn deletes_exactly_the_expired_finished_tasks_and_all_their_rows(db: &Db) {
    let store = db.open_registered();
    let s = store.as_ref();
    // Expired, in the order they finished (each task's transitions span a few microseconds).
    let expired = vec![
        task_in(s, State::Complete, 100),
        task_in(s, State::ResolvedManually, 200),
        task_in(s, State::Cancelled, 300),
        task_in(s, State::Complete, 400),
        task_in(s, State::Complete, 500),
    ];
    // Kept: unfinished or in error however old, and finished after the cutoff.
    let kept = [
        task_in(s, State::Pending, 0),
        task_in(s, State::InProgress, 1),
        task_in(s, State::Error, 2),
        task_in(s, State::Complete, CUTOFF + 100),
        task_in(s, State::Cancelled, CUTOFF + 200),
    ];
    annotate(db, expired[0]);
    let before: Vec<TaskView> = kept
        .iter()
        .map(|id| s.task(*id).expect("read").expect("exists"))
        .collect();

    let mut deleted = Vec::new();
    let mut batches = 0;
    loop {
        let purged = s.purge_finished(at(CUTOFF), 2).expect("purge");
        if purged.is_empty() {
            break;
        }
        assert!(purged.tasks.len() <= 2, "a batch is at most the limit");
        assert_eq!(purged.steps.len(), purged.tasks.len() * 3);
        batches += 1;
        deleted.extend(purged.tasks);
    }
    assert_eq!(batches, 3);
    assert_eq!(deleted, expired, "oldest finished first, each once");
    for id in &expired {
        assert_eq!(s.task(*id).expect("read"), None, "task {id} deleted");
        assert_eq!(s.task_state(*id).expect("read"), None);
    }
    let after: Vec<TaskView> = kept
        .iter()
        .map(|id| s.task(*id).expect("read").expect("kept"))
        .collect();
    assert_eq!(after, before, "the kept tasks read back as they were");
    let mut unfinished = s.unfinished_tasks().expect("list");
    unfinished.sort();
    assert_eq!(unfinished, vec![kept[0], kept[1]]);
    if let Some(counts) = row_counts(db) {
        for (table, n) in rows_of(&after, 0) {
            assert_eq!(
                counts[table], n,
                "{table} holds exactly the kept tasks' rows"
            );
        }
        if let Some(claims) = counts.get("tasker_core_task_claims") {
            // Only the unfinished tasks hold a claim.
            assert!(*claims <= 2, "claims {claims}");
        }
    }
    // Everything is now younger than a cutoff before all of it, or unfinished.
    assert!(s.purge_finished(at(0), 100).expect("purge").is_empty());
}

fn a_deleted_task_cannot_be_changed_and_the_others_still_can(db: &Db) {
    let store = db.open_registered();
    let s = store.as_ref();
    let old = task_in(s, State::Complete, 100);
    let failed = task_in(s, State::Error, 200);
    let purged = s.purge_finished(at(CUTOFF), 10).expect("purge");
    assert_eq!(purged.tasks, vec![old]);
    assert_eq!(purged.task_states[State::Complete.index()], 1);
    assert_eq!(purged.step_states[State::Complete.index()], 3);
    // A complete task may be cancelled; once deleted, that is refused and writes nothing.
    let err = apply(
        s,
        vec![task_move(
            old,
            State::Complete,
            State::Cancelled,
            at(CUTOFF + 1),
        )],
    )
    .expect_err("the task is gone");
    assert!(err.to_string().contains(&format!("task {old}")), "{err}");
    // The store goes on: the failed task is retried.
    apply(
        s,
        vec![task_move(
            failed,
            State::Error,
            State::Pending,
            at(CUTOFF + 2),
        )],
    )
    .expect("a kept task still changes");
    assert_eq!(s.task_state(failed).expect("read"), Some(State::Pending));
}

fn two_stores_purging_at_once_delete_each_task_once(db: &Db) {
    // Two engines' stores on one database (on PostgreSQL, two processes' worth of
    // connections) purge the same backlog at the same time: each task is deleted, and
    // counted, by exactly one of them, and neither fails.
    let first = db.open();
    first.register_template(&template()).expect("register");
    let expired: Vec<TaskId> = (0..40)
        .map(|i| task_in(first.as_ref(), State::Complete, 10 * i))
        .collect();
    let second = db.open();
    let purgers: Vec<_> = [first.clone(), second.clone()]
        .into_iter()
        .map(|store| {
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                loop {
                    let purged = store.purge_finished(at(CUTOFF), 3).expect("purge");
                    if purged.is_empty() {
                        return mine;
                    }
                    mine.extend(purged.tasks);
                }
            })
        })
        .collect();
    let mut deleted: Vec<TaskId> = purgers
        .into_iter()
        .flat_map(|p| p.join().expect("a purging thread"))
        .collect();
    deleted.sort();
    assert_eq!(deleted, expired, "every task deleted once");
    for id in &expired {
        assert_eq!(second.task_state(*id).expect("read"), None);
    }
}

fn an_exported_batch_is_read_then_deleted_if_still_expired(db: &Db) {
    // The export hook's protocol: read a batch of expired ids (nothing deleted), then
    // delete those ids; an id given that is not expired (unfinished, in error, finished
    // after the cutoff, unknown) is left alone.
    let store = db.open_registered();
    let s = store.as_ref();
    let expired = vec![
        task_in(s, State::Complete, 100),
        task_in(s, State::Cancelled, 200),
        task_in(s, State::Complete, 300),
    ];
    let running = task_in(s, State::InProgress, 0);
    let failed = task_in(s, State::Error, 1);
    let recent = task_in(s, State::Complete, CUTOFF + 100);

    let read = s.expired_finished(at(CUTOFF), 2).expect("read");
    assert_eq!(
        read,
        expired[..2].to_vec(),
        "oldest first, at most the limit"
    );
    assert_eq!(s.expired_finished(at(CUTOFF), 10).expect("read"), expired);
    for id in &expired {
        assert!(
            s.task(*id).expect("read").is_some(),
            "reading deletes nothing"
        );
    }

    let mut offered = read.clone();
    offered.extend([running, failed, recent, TaskId(9_999_999)]);
    let purged = s.purge_expired(at(CUTOFF), &offered).expect("purge");
    let mut deleted = purged.tasks.clone();
    deleted.sort();
    assert_eq!(deleted, read, "only the expired ones of the ids given");
    assert_eq!(purged.steps.len(), 6);
    for id in &read {
        assert_eq!(s.task(*id).expect("read"), None, "task {id} deleted");
    }
    for id in [running, failed, recent, expired[2]] {
        assert!(s.task(id).expect("read").is_some(), "task {id} kept");
    }
    assert!(s.purge_expired(at(CUTOFF), &[]).expect("purge").is_empty());
    assert_eq!(
        s.expired_finished(at(CUTOFF), 10).expect("read"),
        vec![expired[2]]
    );
}
