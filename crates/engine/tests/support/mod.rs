//! What several engine test files share: the two-step chain template, an engine started on
//! a given store with it registered, a submission of it, taking steps, and running a task to
//! its end by completing every step handed out. Must not assert anything a test file is about.

#![allow(dead_code)] // each test binary uses a part

use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tasker_engine::engine::Interrupt;
use tasker_engine::{Engine, EngineOptions, ReadyStep, SubmitRequest};
use tasker_model::{EngineConfig, State, TaskId, Timestamp};
use tasker_state::Store;

/// Two steps, `b` after `a`.
pub const CHAIN: &str = "name: chain\nstep_templates:\n - {name: a, handler_class: H}\n - {name: b, handler_class: H, depends_on_step: a}\n";

/// An engine on `store` with `config`, the `chain` template `chain_yaml` registered.
pub fn chain_engine(store: Arc<dyn Store>, chain_yaml: &str, config: EngineConfig) -> Engine {
    let e = Engine::start(EngineOptions {
        config,
        store: Some(store),
        ..EngineOptions::default()
    })
    .unwrap();
    e.register_template_yaml(chain_yaml, "chain.yaml").unwrap();
    e
}

/// Submits a `chain` task, started or left pending, to run no earlier than `run_at`.
pub fn submit_chain(e: &Engine, start: bool, run_at: Option<Timestamp>) -> TaskId {
    e.submit(SubmitRequest {
        name: "chain".into(),
        context: json!({}),
        start,
        run_at,
        ..SubmitRequest::default()
    })
    .unwrap()
}

/// Up to `max` steps handed out, waiting at most `wait` for the first; a test that expects
/// work fails here when none comes.
pub fn take(e: &Engine, max: usize, wait: Duration) -> Vec<ReadyStep> {
    e.take_steps_waiting(max, wait, &Interrupt::default())
        .unwrap()
}

/// Completes every step handed out (its results name it) until the task ends; polls in
/// short waits so that a step retried after a backoff is picked up too.
pub fn run_to_end(e: &Engine, id: TaskId) -> State {
    let interrupt = Interrupt::default();
    loop {
        if let Ok(steps) = e.take_steps_waiting(8, Duration::from_millis(20), &interrupt) {
            for s in steps {
                e.complete_step(s.step_id, json!({"ran": &**s.name()}))
                    .unwrap();
            }
        }
        if let Ok(Ok(state)) = e.wait_for_task(id, Duration::from_millis(1), &interrupt) {
            return state;
        }
    }
}
