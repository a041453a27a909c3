//! Identified tasks (issue 17, idempotent submission) in every store: a task found by its
//! identity_hash, and a batch that loses the unique index to another writer written
//! without its duplicate task, which the store names (`duplicate_of`) with the winner.
//! The PostgreSQL case uses two stores on one schema, as two processes would.

mod conformance;

use conformance::*;
use std::sync::Arc;
use tasker_model::Timestamp;
use tasker_state::{Change, MemoryStore, PostgresStore, SqliteStore, Store, TaskView};

fn at(micros: i64) -> Timestamp {
    Timestamp(1_700_000_000_000_001 + micros)
}

/// A new task of the conformance template with `identity`, not yet applied.
fn identified(store: &dyn Store, identity: &str) -> tasker_state::NewTask {
    let mut task = new_task(store, &template(), at(0));
    task.identity_hash = Some(identity.to_string());
    task
}

/// `first` stores identity "order-42"; then `second` (the same database) applies a batch
/// creating another task with it, an unrelated task, and a move of each: the batch commits
/// without the duplicate, and `second` names the winner once.
fn a_duplicate_identity_is_dropped_from_its_batch(first: &dyn Store, second: &dyn Store) {
    let template = template();
    first.register_template(&template).unwrap();
    second.register_template(&template).unwrap();
    let winner = identified(first, "order-42");
    apply(first, vec![Change::CreateTask(Box::new(winner.clone()))]).unwrap();
    let winner = winner.task.task_id;
    assert_eq!(second.task_with_identity("order-42").unwrap(), Some(winner));
    assert_eq!(second.task_with_identity("order-43").unwrap(), None);

    let loser = identified(second, "order-42");
    let other = new_task(second, &template, at(1));
    let (loser_id, other_id) = (loser.task.task_id, other.task.task_id);
    let batch = vec![
        Change::CreateTask(Box::new(loser.clone())),
        Change::CreateTask(Box::new(other)),
        task_move(loser_id, State::Pending, State::InProgress, at(2)),
        step_move(
            loser_id,
            loser.steps[0].step_id,
            State::Pending,
            State::InProgress,
            at(2),
        ),
        task_move(other_id, State::Pending, State::InProgress, at(2)),
    ];
    apply(second, batch).expect("the batch commits without its duplicate");
    assert_eq!(second.task(loser_id).unwrap(), None::<TaskView>);
    assert_eq!(
        second.task_state(other_id).unwrap(),
        Some(State::InProgress)
    );
    assert_eq!(second.task_state(winner).unwrap(), Some(State::Pending));
    assert_eq!(second.duplicate_of(loser_id), Some(winner));
    assert_eq!(second.duplicate_of(loser_id), None, "answered once");
    assert_eq!(second.duplicate_of(other_id), None);
}

#[test]
fn sqlite_drops_a_duplicate_identity_from_its_batch() {
    let file = SqliteFile::new("identity");
    let store = SqliteStore::open(&file.url()).unwrap();
    a_duplicate_identity_is_dropped_from_its_batch(&store, &store);
}

#[test]
fn postgres_drops_a_duplicate_identity_another_store_committed() {
    let Some(schema) = PgSchema::new("identity") else {
        return;
    };
    let a = PostgresStore::open(&schema.url()).unwrap();
    let b = PostgresStore::open(&schema.url()).unwrap();
    a_duplicate_identity_is_dropped_from_its_batch(&a, &b);
    let stored =
        schema.texts("SELECT identity_hash FROM tasker_tasks WHERE identity_hash = 'order-42'");
    assert_eq!(stored.len(), 1);
}

#[test]
fn memory_finds_identities_and_refuses_a_repeat() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let template = template();
    let first = identified(store.as_ref(), "k");
    apply_one(store.as_ref(), Change::CreateTask(Box::new(first.clone())));
    assert_eq!(
        store.task_with_identity("k").unwrap(),
        Some(first.task.task_id)
    );
    let again = identified(store.as_ref(), "k");
    let e = refused(
        store.as_ref(),
        vec![Change::CreateTask(Box::new(again.clone()))],
    );
    assert!(e.to_string().contains("identity_hash"), "{e}");
    assert_eq!(store.task(again.task.task_id).unwrap(), None);
    let plain = new_task(store.as_ref(), &template, at(0));
    assert!(plain.identity_hash.is_none());
    apply(store.as_ref(), vec![Change::CreateTask(Box::new(plain))]).unwrap();
}
