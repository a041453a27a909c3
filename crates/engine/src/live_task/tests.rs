//! The task rules, driven by hand without actors.

use super::*;
use crate::inflight::AttemptId;
use crate::work::StepFailure;
use tasker_model::TaskTemplate;

/// A task of `yaml` (task 1, steps 10 and 11) created at `now` from `origin`, its effects
/// collected in `fx`; the other modules' tests make their tasks here too.
pub(super) fn create(
    yaml: &str,
    origin: TaskOrigin,
    now: Timestamp,
    mut fx: Effects,
) -> (LiveTask, Effects) {
    let t = TaskTemplate::from_yaml(yaml, "t.yaml").unwrap();
    let reg = Arc::new(RegisteredTemplate::compile(t).unwrap());
    let lt = LiveTask::create(
        TaskId(1),
        vec![StepId(10), StepId(11)],
        reg,
        Arc::new(json!({})),
        origin,
        now,
        &mut fx,
    );
    (lt, fx)
}

/// A task of `yaml` created now, every event wanted.
fn task(yaml: &str) -> (LiveTask, Effects) {
    let fx = Effects {
        events_wanted: EventMask::ALL,
        ..Effects::default()
    };
    create(yaml, TaskOrigin::default(), Timestamp::now(), fx)
}

/// A task of `yaml` started now: the task, its effects so far, and the time it started.
fn running(yaml: &str) -> (LiveTask, Effects, Timestamp) {
    let (mut t, mut fx) = task(yaml);
    let now = Timestamp::now();
    t.start(now, &mut fx).unwrap();
    (t, fx, now)
}

/// A handler's failure without details.
fn failure(
    error_class: &str,
    message: &str,
    retryable: bool,
    retry_after: Option<f64>,
) -> StepFailure {
    StepFailure {
        error_class: error_class.into(),
        message: message.into(),
        retryable,
        retry_after,
        details: None,
    }
}

const CHAIN: &str = "name: c\nstep_templates:\n - {name: a, handler_class: H, default_retry_limit: 2}\n - {name: b, handler_class: H, depends_on_step: a}\n";

fn names(fx: &Effects) -> Vec<&str> {
    fx.events.iter().map(|e| e.name()).collect()
}

#[test]
fn max_parallel_defers_ready_steps_until_one_finishes() {
    let pair = "name: p\nstep_templates:\n - {name: a, handler_class: H}\n - {name: b, handler_class: H}\n";
    let (mut t, mut fx) = task(pair);
    let now = Timestamp::now();
    t.max_parallel = Some(1);
    t.start(now, &mut fx).unwrap();
    let mut dispatch = std::mem::take(&mut fx.dispatch);
    assert_eq!(dispatch, vec![0, 1]);
    t.admit(&mut dispatch);
    assert_eq!((dispatch.clone(), t.deferred.clone()), (vec![0], vec![1]));
    t.hand_out(0, AttemptId(1), &mut fx);
    t.started(0, now, &mut fx);
    t.complete(0, Arc::new(json!(null)), now, true, &mut fx)
        .unwrap();
    // Not finished, and not failed: b waits its turn.
    assert_eq!(fx.finished, None);
    let mut dispatch = std::mem::take(&mut fx.dispatch);
    t.admit(&mut dispatch);
    assert_eq!((dispatch, t.deferred.is_empty()), (vec![1], true));
    t.hand_out(1, AttemptId(1), &mut fx);
    t.complete(1, Arc::new(json!(null)), now, true, &mut fx)
        .unwrap();
    assert_eq!(fx.finished, Some(State::Complete));
}

#[test]
fn a_chain_runs_parent_then_child_then_completes() {
    let (mut t, mut fx, now) = running(CHAIN);
    assert_eq!(fx.dispatch, vec![0]);
    fx.dispatch.clear();
    let r = t.hand_out(0, AttemptId(1), &mut fx);
    assert_eq!((r.step_id, r.attempt), (StepId(10), 1));
    t.started(0, now, &mut fx);
    t.complete(0, Arc::new(json!({"x": 1})), now, true, &mut fx)
        .unwrap();
    assert_eq!(fx.dispatch, vec![1]);
    fx.dispatch.clear();
    let r = t.hand_out(1, AttemptId(1), &mut fx);
    assert_eq!(r.parent_results[0].0.as_ref(), "a");
    assert_eq!(*r.parent_results[0].1, json!({"x": 1}));
    t.complete(1, Arc::new(json!(null)), now, true, &mut fx)
        .unwrap();
    assert_eq!(fx.finished, Some(State::Complete));
    assert_eq!(
        names(&fx),
        vec![
            "task.initialize_requested",
            "task.start_requested",
            "workflow.viable_steps_discovered",
            "step.execution_requested",
            "step.before_handle",
            "step.completed",
            "workflow.viable_steps_discovered",
            "step.execution_requested",
            "step.before_handle",
            "step.completed",
            "task.completed"
        ]
    );
}

#[test]
fn failures_retry_until_the_limit_then_the_task_fails() {
    let (mut t, mut fx, now) = running(CHAIN);
    fx.dispatch.clear();
    let boom = failure("Boom", "no", true, None);
    t.hand_out(0, AttemptId(1), &mut fx);
    t.fail(0, &boom, now, 1.0, &mut fx).unwrap();
    assert_eq!(fx.retries.len(), 1);
    let d = fx.retries[0].1.as_secs_f64();
    assert!((0.9..=1.1).contains(&d), "first retry after ~1 s, got {d}");
    assert_eq!(fx.finished, None);
    fx.dispatch.clear();
    t.retry_due(0, now, true, &mut fx);
    assert_eq!(fx.dispatch, vec![0]);
    fx.dispatch.clear();
    let r = t.hand_out(0, AttemptId(1), &mut fx);
    assert_eq!(r.attempt, 2);
    t.fail(0, &boom, now, 1.0, &mut fx).unwrap();
    assert_eq!(
        fx.retries.len(),
        1,
        "retry_limit 2 reached: no second retry"
    );
    assert_eq!(fx.finished, Some(State::Error));
    assert_eq!(t.steps[0].attempts, 2);
}

#[test]
fn a_permanent_error_is_not_retried() {
    let (mut t, mut fx, now) = running(CHAIN);
    fx.dispatch.clear();
    t.hand_out(0, AttemptId(1), &mut fx);
    let perm = failure("Bad", "card declined", false, None);
    t.fail(0, &perm, now, 1.0, &mut fx).unwrap();
    assert!(fx.retries.is_empty());
    assert_eq!(fx.finished, Some(State::Error));
    assert!(!t.steps[0].retryable);
}

#[test]
fn completing_a_step_that_is_not_running_is_refused() {
    let (mut t, mut fx) = task(CHAIN);
    let e = t
        .complete(0, Arc::new(json!(1)), Timestamp::now(), true, &mut fx)
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("cannot move from pending to complete"),
        "{e}"
    );
}

#[test]
fn requested_delay_is_used_for_the_retry() {
    let (mut t, mut fx, now) = running(CHAIN);
    t.hand_out(0, AttemptId(1), &mut fx);
    let f = failure("RateLimited", "429", true, Some(7.0));
    t.fail(0, &f, now, 1.0, &mut fx).unwrap();
    assert_eq!(fx.retries[0].1, Duration::from_secs(7));
}

const TIMED: &str = "name: t\ndefault_timeout_seconds: 30\nstep_templates:\n - {name: a, handler_class: H, default_retry_limit: 2, handler_config: {timeout_seconds: 1}}\n - {name: b, handler_class: H, depends_on_step: a}\n";

/// The error class and attempt of the last step transition in `fx`.
fn last_error(fx: &Effects) -> (Option<String>, Option<u32>) {
    fx.changes
        .iter()
        .rev()
        .find_map(|c| match c {
            Change::StepTransition {
                to: State::Error,
                meta,
                ..
            } => Some((meta.error_class.clone(), meta.attempt)),
            _ => None,
        })
        .unwrap_or_default()
}

#[test]
fn step_timeouts_come_from_the_template_else_the_engine_default() {
    let (t, _) = task(TIMED);
    let engine = Some(Duration::from_secs(9));
    assert_eq!(t.step_timeout(0, engine), Some(Duration::from_secs(1)));
    assert_eq!(t.step_timeout(1, engine), Some(Duration::from_secs(30)));
    let (t, _) = task(CHAIN);
    assert_eq!(t.step_timeout(0, engine), Some(Duration::from_secs(9)));
    assert_eq!(t.step_timeout(0, None), None);
}

#[test]
fn a_timed_out_attempt_fails_with_timeout_error_and_is_retried_then_errors() {
    let (mut t, mut fx) = task(TIMED);
    let now = Timestamp::now();
    let limit = Duration::from_secs(1);
    t.start(now, &mut fx).unwrap();
    let r = t.hand_out(0, AttemptId(1), &mut fx);
    // Not started yet: a timer cannot be running for it.
    assert!(!t.is_running_attempt(0, r.attempt));
    assert!(!t.time_out(0, r.attempt, limit, now, 1.0, &mut fx));
    t.started(0, now, &mut fx);
    assert!(t.is_running_attempt(0, 1));
    assert!(!t.is_running_attempt(0, 2));
    assert!(t.time_out(0, 1, limit, now, 1.0, &mut fx));
    assert_eq!(
        last_error(&fx),
        (Some(TIMEOUT_ERROR_CLASS.to_string()), Some(1))
    );
    assert_eq!(fx.retries.len(), 1, "retryable: a retry is scheduled");
    // The same timer again (or one armed for that attempt) is stale now.
    assert!(!t.time_out(0, 1, limit, now, 1.0, &mut fx));
    fx.retries.clear();
    t.retry_due(0, now, true, &mut fx);
    fx.dispatch.clear();
    let r = t.hand_out(0, AttemptId(1), &mut fx);
    assert_eq!(r.attempt, 2);
    t.started(0, now, &mut fx);
    assert!(
        !t.time_out(0, 1, limit, now, 1.0, &mut fx),
        "attempt 1's timer"
    );
    assert!(t.time_out(0, 2, limit, now, 1.0, &mut fx));
    assert_eq!(last_error(&fx).1, Some(2));
    assert!(fx.retries.is_empty(), "retry_limit 2 reached");
    assert_eq!(fx.finished, Some(State::Error));
}

#[test]
fn a_timer_for_an_attempt_already_reported_changes_nothing() {
    let (mut t, mut fx, now) = running(TIMED);
    t.hand_out(0, AttemptId(1), &mut fx);
    t.started(0, now, &mut fx);
    t.complete(0, Arc::new(json!(1)), now, true, &mut fx)
        .unwrap();
    let changes = fx.changes.len();
    assert!(!t.time_out(0, 1, Duration::from_secs(1), now, 1.0, &mut fx));
    assert_eq!(fx.changes.len(), changes);
    assert_eq!(t.steps[0].state, State::Complete);
}
