//! An engine started on a store that already holds tasks: its live health counts include
//! them (read at start, see `engine/boot.rs`) together with what it commits itself.

use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tasker_engine::engine::Interrupt;
use tasker_engine::{Engine, EngineOptions, SubmitRequest};
use tasker_model::{State, TaskId};
use tasker_state::{open_store, MemoryStore, Store};

const CHAIN: &str = "name: chain\nstep_templates:\n - {name: a, handler_class: H}\n - {name: b, handler_class: H, depends_on_step: a}\n";
const T: Duration = Duration::from_secs(10);

fn engine_on(store: Arc<dyn Store>) -> Engine {
    let e = Engine::start(EngineOptions {
        store: Some(store),
        ..EngineOptions::default()
    })
    .unwrap();
    e.register_template_yaml(CHAIN, "chain.yaml").unwrap();
    e
}

fn submit(e: &Engine, start: bool) -> TaskId {
    e.submit(SubmitRequest {
        name: "chain".into(),
        context: json!({}),
        start,
        priority: 0,
        ..SubmitRequest::default()
    })
    .unwrap()
}

fn run_to_end(e: &Engine, id: TaskId) -> State {
    let interrupt = Interrupt::default();
    loop {
        if let Ok(steps) = e.take_steps_waiting(8, Duration::from_millis(20), &interrupt) {
            for s in steps {
                e.complete_step(s.step_id, json!({})).unwrap();
            }
        }
        if let Ok(Ok(state)) = e.wait_for_task(id, Duration::from_millis(1), &interrupt) {
            return state;
        }
    }
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
