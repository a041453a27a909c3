//! Recovery from a shared store and the manual operations, against a real engine.

mod support;

use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::{chain_engine, run_to_end, submit_chain, take};
use tasker_engine::engine::Interrupt;
use tasker_engine::operations::{Operation, Request};
use tasker_engine::{Engine, ReadyStep, StepFailure, WaitEnd};
use tasker_model::{EngineConfig, State, StepId, TaskId, TaskerError};
use tasker_state::{MemoryStore, Store, TransitionRecord};

/// The shared chain, `a` retried at most twice.
const CHAIN: &str = "name: chain\nstep_templates:\n - {name: a, handler_class: H, default_retry_limit: 2}\n - {name: b, handler_class: H, depends_on_step: a}\n";
const T: Duration = Duration::from_secs(5);

fn engine_on(store: Arc<MemoryStore>) -> Engine {
    let config = EngineConfig {
        backoff_scale: 0.001,
        ..EngineConfig::default()
    };
    chain_engine(store, CHAIN, config)
}

fn submit(e: &Engine) -> TaskId {
    submit_chain(e, true, None)
}

/// A fresh memory store (kept, for a second engine to recover from), an engine on it, and a
/// task submitted there.
fn engine_with_task() -> (Arc<MemoryStore>, Engine, TaskId) {
    let store = Arc::new(MemoryStore::new());
    let e = engine_on(store.clone());
    let id = submit(&e);
    (store, e, id)
}

/// The next waiting step, waiting at most `T` for it.
fn take_next(e: &Engine) -> ReadyStep {
    take(e, 1, T).remove(0)
}

/// Takes the next waiting step and fails it with `error_class`, retryable or not.
fn fail_next(e: &Engine, error_class: &str, message: &str, retryable: bool) -> StepId {
    let step = take_next(e).step_id;
    e.fail_step(
        step,
        StepFailure {
            error_class: error_class.into(),
            message: message.into(),
            retryable,
            retry_after: None,
            details: None,
        },
    )
    .unwrap();
    step
}

/// How task `id` ended, or why the wait (at most `T`) did.
fn ended(e: &Engine, id: TaskId) -> Result<State, WaitEnd> {
    e.wait_for_task(id, T, &Interrupt::default()).unwrap()
}

/// The states a history went through, oldest first.
fn path(transitions: &[TransitionRecord]) -> Vec<&str> {
    transitions.iter().map(|t| t.to_state.as_str()).collect()
}

#[test]
fn a_second_engine_resumes_what_the_first_left_and_reruns_only_unfinished_steps() {
    let (store, first, id) = engine_with_task();
    let a = take_next(&first);
    first.complete_step(a.step_id, json!({"ran": "a"})).unwrap();
    let b = take_next(&first);
    assert_eq!(&**b.name(), "b");
    first.stop(T).unwrap(); // b was started: it goes to error (engine_stopped)
    drop(first);

    let second = engine_on(store.clone());
    let report = second.recover(T).unwrap();
    assert_eq!(report.resumed, 1);
    assert_eq!(run_to_end(&second, id), State::Complete);
    let view = second.task(id).unwrap().unwrap();
    let a_path = path(&view.steps[0].transitions);
    assert_eq!(
        a_path,
        vec!["in_progress", "complete"],
        "a completed once and never ran again"
    );
    let b_path = path(&view.steps[1].transitions);
    assert_eq!(
        b_path,
        vec!["in_progress", "error", "pending", "in_progress", "complete"]
    );
    second.stop(T).unwrap();
}

#[test]
fn steps_running_at_a_crash_fail_with_engine_restart_and_count_an_attempt() {
    let (store, first, id) = engine_with_task();
    let _a = take_next(&first);
    first.flush(T).unwrap();
    // A crash: the engine's memory is gone but the store keeps a running step. Recover on a
    // second engine while the first is still alive but ignored (no stop, no take-back).
    let second = engine_on(store.clone());
    assert_eq!(second.recover(T).unwrap().resumed, 1);
    assert_eq!(run_to_end(&second, id), State::Complete);
    let a = &second.task(id).unwrap().unwrap().steps[0];
    let restart = a
        .transitions
        .iter()
        .find(|t| t.meta.reason == "engine_restart")
        .expect("restart transition");
    assert_eq!(restart.from_state, Some(State::InProgress));
    assert_eq!(a.step.attempts, Some(1));
    second.stop(T).unwrap();
    // The first engine's last writes rest on a past it no longer shares with the store:
    // the store refuses them rather than rewrite history.
    let err = first.stop(T).unwrap_err();
    assert!(
        err.to_string().contains("is complete, not in_progress"),
        "{err}"
    );
}

#[test]
fn manual_operations_follow_the_state_machine_and_record_why() {
    let (_, e, id) = engine_with_task();
    // Fail a twice: its retry limit is 2, so the task ends in error.
    for _ in 0..2 {
        fail_next(&e, "Boom", "no", true);
    }
    assert_eq!(ended(&e, id), Ok(State::Error));
    let view = e.task(id).unwrap().unwrap();
    let a = view.steps[0].step.step_id;
    let a_key = view.steps[0].transitions.last().unwrap().sort_key;

    // Refused: a complete-only operation on a step in error names the states.
    let err = e
        .operate(
            id,
            Operation::ResolveTaskManually,
            Request {
                expect_sort_key: Some(0),
                ..Request::default()
            },
            T,
        )
        .unwrap_err();
    assert!(
        matches!(err, TaskerError::ConcurrentModification { .. }),
        "{err}"
    );
    let err = e
        .operate(id, Operation::CancelTask, Request::default(), T)
        .unwrap_err();
    assert_eq!(err.to_string(), format!("task {id} cannot move from error to cancelled; allowed from error: pending, resolved_manually"));

    // Stale view of the step: refused, nothing written.
    let before = e.task(id).unwrap();
    let stale = Request {
        reason: Some("ops".into()),
        expect_sort_key: Some(a_key - 1),
    };
    let err = e
        .operate(
            id,
            Operation::ResetStepForRetry {
                step_id: a,
                retry_limit: Some(5),
            },
            stale,
            T,
        )
        .unwrap_err();
    assert!(
        matches!(err, TaskerError::ConcurrentModification { .. }),
        "{err}"
    );
    assert_eq!(e.task(id).unwrap(), before);

    // Allowed: reset a for retry with a new limit; the task resumes and completes.
    let fresh = Request {
        reason: Some("gateway fixed".into()),
        expect_sort_key: Some(a_key),
    };
    e.operate(
        id,
        Operation::ResetStepForRetry {
            step_id: a,
            retry_limit: Some(5),
        },
        fresh,
        T,
    )
    .unwrap();
    assert_eq!(run_to_end(&e, id), State::Complete);
    let view = e.task(id).unwrap().unwrap();
    let reset = view.steps[0]
        .transitions
        .iter()
        .find(|t| t.meta.actor == "api")
        .unwrap();
    assert_eq!(reset.meta.reason, "gateway fixed");
    assert_eq!(
        reset.meta.extra.as_ref().unwrap()["operation"],
        "reset_for_retry"
    );
    assert_eq!(
        (reset.from_state, reset.to_state),
        (Some(State::Error), State::Pending)
    );
    assert_eq!(view.steps[0].step.retry_limit, 5);
    let task_path = path(&view.transitions);
    assert_eq!(
        task_path,
        vec!["in_progress", "error", "pending", "in_progress", "complete"]
    );

    // A finished task can be cancelled; its history only grows.
    let len = view.transitions.len();
    e.operate(id, Operation::CancelTask, Request::default(), T)
        .unwrap();
    let view = e.task(id).unwrap().unwrap();
    assert_eq!(view.state, State::Cancelled);
    assert_eq!(view.transitions.len(), len + 1);
    assert_eq!(view.transitions.iter().filter(|t| t.most_recent).count(), 1);
    e.stop(T).unwrap();
}

#[test]
fn marking_a_failed_step_completed_lets_its_children_run() {
    let (store, e, id) = engine_with_task();
    let a = fail_next(&e, "Bad", "declined", false);
    assert_eq!(ended(&e, id), Ok(State::Error));
    e.operate(
        id,
        Operation::MarkStepCompleted {
            step_id: a,
            results: json!({"manual": true}),
        },
        Request::default(),
        T,
    )
    .unwrap();
    let b = take_next(&e);
    assert_eq!(&**b.name(), "b");
    assert_eq!(*b.parent_results[0].1, json!({"manual": true}));
    e.complete_step(b.step_id, json!(1)).unwrap();
    assert_eq!(ended(&e, id), Ok(State::Complete));
    let a = &e.task(id).unwrap().unwrap().steps[0];
    assert_eq!(a.state, State::ResolvedManually);
    e.stop(T).unwrap();
    let _: &dyn Store = &*store;
}
