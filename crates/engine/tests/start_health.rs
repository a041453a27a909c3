//! An engine started on a store that already holds tasks: its live health counts include
//! them (read at start, see `engine/boot.rs`) together with what it commits itself.

mod support;

use std::sync::Arc;
use std::time::Duration;
use support::{chain_engine, run_to_end, submit_chain, CHAIN};
use tasker_engine::Engine;
use tasker_model::{EngineConfig, State, TaskId};
use tasker_state::{open_store, MemoryStore, Store};

const T: Duration = Duration::from_secs(10);

fn engine_on(store: Arc<dyn Store>) -> Engine {
    chain_engine(store, CHAIN, EngineConfig::default())
}

fn submit(e: &Engine, start: bool) -> TaskId {
    submit_chain(e, start, None)
}

/// Two tasks complete and one pending from a first engine; a second engine on the same
/// store submits one more, pending, at once after its start: its health is then three
/// complete-or-pending tasks of earlier runs plus its own, as the store counts them.
fn health_counts_stored_tasks_and_new_ones(store: Arc<dyn Store>) {
    let first = engine_on(store.clone());
    for _ in 0..2 {
        let id = submit(&first, true);
        assert_eq!(run_to_end(&first, id), State::Complete);
    }
    submit(&first, false);
    first.flush(T).unwrap();
    first.stop(T).unwrap();
    drop(first);

    let second = engine_on(store);
    submit(&second, false);
    second.flush(T).unwrap();
    let live = second.health();
    assert_eq!(live.tasks_by_state(), [2, 0, 2, 0, 0, 0]);
    assert_eq!(live.steps_by_state(), [4, 0, 4, 0, 0, 0]);
    let stored = second.stored_health().unwrap();
    assert_eq!(live.tasks_by_state(), stored.tasks_by_state());
    assert_eq!(live.steps_by_state(), stored.steps_by_state());
    second.stop(T).unwrap();
}

#[test]
fn memory_health_counts_stored_tasks_and_new_ones() {
    health_counts_stored_tasks_and_new_ones(Arc::new(MemoryStore::new()));
}

#[test]
fn sqlite_health_counts_stored_tasks_and_new_ones() {
    let path = std::env::temp_dir().join(format!(
        "tasker_core_start_health_{}.sqlite3",
        std::process::id()
    ));
    let store = open_store(&format!("sqlite://{}", path.display())).unwrap();
    health_counts_stored_tasks_and_new_ones(store);
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
