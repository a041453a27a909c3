//! A task submitted with `run_at` against a real engine: stored at once, no step handed out
//! before `run_at`, by the engine that took it and by one that recovers it from the store
//! after a restart. (The rules themselves: `live_task/schedule.rs`.)

mod support;

use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::{chain_engine, submit_chain, CHAIN};
use tasker_engine::engine::Interrupt;
use tasker_engine::Engine;
use tasker_model::{EngineConfig, State, TaskId, Timestamp};
use tasker_state::{MemoryStore, Store};

const T: Duration = Duration::from_secs(10);

fn engine_on(store: Arc<MemoryStore>) -> Engine {
    chain_engine(store, CHAIN, EngineConfig::default())
}

fn submit_at(e: &Engine, run_at: Timestamp) -> TaskId {
    submit_chain(e, true, Some(run_at))
}

/// Runs the task's steps as they come (waiting at most `T` for each) and returns when its
/// first step was handed out.
fn run_to_end(e: &Engine, id: TaskId) -> Timestamp {
    let interrupt = Interrupt::default();
    let mut first = None;
    for _ in 0..2 {
        let step = e.take_steps_waiting(1, T, &interrupt).unwrap().remove(0);
        first.get_or_insert_with(Timestamp::now);
        e.complete_step(step.step_id, json!({})).unwrap();
    }
    assert_eq!(
        e.wait_for_task(id, T, &interrupt).unwrap(),
        Ok(State::Complete)
    );
    first.unwrap()
}

#[test]
fn a_run_at_task_waits_in_the_engine_that_took_it() {
    let e = engine_on(Arc::new(MemoryStore::new()));
    let run_at = Timestamp::now().plus_seconds(0.8);
    let id = submit_at(&e, run_at);
    e.flush(T).unwrap();
    assert!(e.take_steps(8).unwrap().is_empty());
    assert!(run_to_end(&e, id) >= run_at);
    e.stop(T).unwrap();
}

#[test]
fn a_run_at_task_still_waits_after_a_restart() {
    let store = Arc::new(MemoryStore::new());
    let first = engine_on(store.clone());
    let run_at = Timestamp::now().plus_seconds(1.2);
    let id = submit_at(&first, run_at);
    first.flush(T).unwrap();
    first.stop(T).unwrap();
    drop(first);

    let stored = store.task(id).unwrap().unwrap();
    let root = &stored.steps[0].step;
    let due = root
        .last_attempted_at
        .unwrap()
        .plus_seconds(root.backoff_request_seconds.unwrap() as f64);
    assert_eq!(due, run_at);

    let second = engine_on(store);
    let report = second.recover(T).unwrap();
    assert_eq!(report.resumed_ids, vec![id]);
    assert!(second.take_steps(8).unwrap().is_empty());
    assert!(run_to_end(&second, id) >= run_at);
    second.stop(T).unwrap();
}
