//! Black-box tests of step timeouts: a real engine whose worker takes a step and never
//! reports it (a hung handler), then reports it late.

mod support;

use serde_json::json;
use serde_json::Value as Json;
use std::time::Duration;
use support::take;
use tasker_engine::engine::Interrupt;
use tasker_engine::{Engine, EngineOptions, ReadyStep, SubmitRequest, TIMEOUT_ERROR_CLASS};
use tasker_model::{EngineConfig, State, TaskId};
use tasker_state::TaskView;

const TIMED: &str = "name: timed\nstep_templates:\n - {name: a, handler_class: H, default_retry_limit: 2, timeout_seconds: 0.2}\n";
/// Timed out like `TIMED`, with room for the test thread to report a retry in time on a
/// loaded machine.
const TIMED_2S: &str = "name: timed_2s\nstep_templates:\n - {name: a, handler_class: H, default_retry_limit: 2, timeout_seconds: 2}\n";
/// One attempt of 2 s: it errors the task on its first timeout, and leaves the test thread
/// room to report the attempt a reset starts.
const ONCE_2S: &str = "name: once_2s\nstep_templates:\n - {name: a, handler_class: H, default_retry_limit: 1, timeout_seconds: 2}\n";
const ROOMY: &str = "name: roomy\nstep_templates:\n - {name: a, handler_class: H, handler_config: {timeout_seconds: 60}}\n";
const PLAIN: &str =
    "name: plain\nstep_templates:\n - {name: a, handler_class: H, default_retry_limit: 1}\n";
const WAIT: Duration = Duration::from_secs(10);

fn engine(step_timeout: Option<Duration>) -> Engine {
    let e = Engine::start(EngineOptions {
        config: EngineConfig {
            backoff_scale: 0.001,
            step_timeout,
            ..EngineConfig::default()
        },
        ..EngineOptions::default()
    })
    .unwrap();
    e.register_template_yaml(TIMED, "timed.yaml").unwrap();
    e.register_template_yaml(PLAIN, "plain.yaml").unwrap();
    e.register_template_yaml(ROOMY, "roomy.yaml").unwrap();
    e.register_template_yaml(ONCE_2S, "once_2s.yaml").unwrap();
    e
}

fn submit(e: &Engine, name: &str) -> TaskId {
    e.submit(SubmitRequest {
        name: name.into(),
        context: json!({}),
        start: true,
        ..SubmitRequest::default()
    })
    .unwrap()
}

fn stat(e: &Engine, name: &str) -> u64 {
    e.stats().into_iter().find(|(n, _)| *n == name).unwrap().1
}

/// Reports `step`'s attempt complete with `results`: whether the engine took the report.
fn report(e: &Engine, step: &ReadyStep, results: Json) -> bool {
    e.complete_attempt(step.step_id, step.attempt_id, results)
        .unwrap()
}

/// Task `id` ends in `state` within [`WAIT`].
fn ends_in(e: &Engine, id: TaskId, state: State) {
    let end = e.wait_for_task(id, WAIT, &Interrupt::default()).unwrap();
    assert_eq!(end, Ok(state), "task {id}");
}

/// `late`'s report, made after `current` was handed out for the same step, is ignored, and
/// `current`'s is taken: task `id` completes with `results` stored. Returns it as stored.
fn late_then_current(
    e: &Engine,
    id: TaskId,
    late: &ReadyStep,
    current: &ReadyStep,
    results: Json,
) -> TaskView {
    let late_report = report(e, late, json!({"late": true}));
    assert!(!late_report, "the late report is ignored");
    assert!(
        report(e, current, results.clone()),
        "the current attempt's report is taken"
    );
    ends_in(e, id, State::Complete);
    e.flush(WAIT).unwrap();
    let view = e.task(id).unwrap().unwrap();
    assert_eq!(view.steps[0].step.results.as_deref(), Some(&results));
    view
}

/// An [`engine`] that has handed a worker the first step of a new task of template `name`:
/// the engine, the task, and what the worker took.
fn step_taken(step_timeout: Option<Duration>, name: &str) -> (Engine, TaskId, Vec<ReadyStep>) {
    let e = engine(step_timeout);
    let id = submit(&e, name);
    let taken = take(&e, 8, WAIT);
    (e, id, taken)
}

#[test]
fn a_hung_attempt_times_out_is_retried_and_its_late_report_is_ignored() {
    let (e, id, first) = step_taken(None, "timed");
    assert_eq!(
        (first[0].attempt, first[0].timeout),
        (1, Some(Duration::from_millis(200)))
    );
    // Never reported: the engine times it out and hands out the retry.
    let second = take(&e, 8, WAIT);
    assert_eq!(
        (second[0].step_id, second[0].attempt),
        (first[0].step_id, 2)
    );
    // Attempt 1's result arrives late: ignored, and attempt 2 is still the worker's to report.
    let view = late_then_current(&e, id, &first[0], &second[0], json!({"attempt": 2}));
    let error = view.steps[0]
        .transitions
        .iter()
        .find(|t| t.to_state == State::Error)
        .unwrap();
    assert_eq!(error.meta.error_class.as_deref(), Some(TIMEOUT_ERROR_CLASS));
    assert_eq!(error.meta.attempt, Some(1));
    assert_eq!(
        (
            stat(&e, "steps_timed_out"),
            stat(&e, "late_reports_ignored")
        ),
        (1, 1)
    );
    e.stop(WAIT).unwrap();
}

#[test]
fn a_late_report_from_before_a_reset_never_takes_the_attempt_the_reset_started() {
    use tasker_engine::operations::{Operation, Request};
    let (e, id, first) = step_taken(None, "once_2s");
    // Never reported: it times out, and with one attempt allowed the task errors.
    ends_in(&e, id, State::Error);
    let step_id = first[0].step_id;
    let reset = Operation::ResetStepForRetry {
        step_id,
        retry_limit: None,
    };
    e.operate(id, reset, Request::default(), WAIT).unwrap();
    // The reset put attempts back to 0: the step runs as attempt 1 again.
    let again = take(&e, 8, WAIT);
    assert_eq!((again[0].step_id, again[0].attempt), (step_id, 1));
    // The hung handler of the first run returns now: its report is late, not the new run's.
    late_then_current(&e, id, &first[0], &again[0], json!({"run": 2}));
    assert_eq!(stat(&e, "late_reports_ignored"), 1);
    e.stop(WAIT).unwrap();
}

#[test]
fn the_engine_default_applies_and_the_task_errors_when_retries_run_out() {
    let (e, id, taken) = step_taken(Some(Duration::from_millis(100)), "plain");
    assert_eq!(taken[0].timeout, Some(Duration::from_millis(100)));
    ends_in(&e, id, State::Error);
    // Reported long after: refused without an error, whether as complete or as failed.
    assert!(!report(&e, &taken[0], json!(1)));
    assert_eq!(stat(&e, "steps_timed_out"), 1);
    e.stop(WAIT).unwrap();
}

#[test]
fn a_step_reported_in_time_is_not_timed_out() {
    let (e, id, taken) = step_taken(None, "roomy");
    assert_eq!(taken[0].timeout, Some(Duration::from_secs(60)));
    assert!(report(&e, &taken[0], json!(1)));
    ends_in(&e, id, State::Complete);
    // A second report of the same attempt is still refused as before.
    assert!(e
        .complete_attempt(taken[0].step_id, taken[0].attempt_id, json!(1))
        .is_err());
    assert_eq!(stat(&e, "steps_timed_out"), 0);
    e.stop(WAIT).unwrap();
}

/// An engine whose handler class `H` is capped at one step at a time.
fn capped_engine() -> Engine {
    let limits = tasker_engine::gate::Limits::from_json(&json!({"handlers": {"H": 1}})).unwrap();
    let e = Engine::start(EngineOptions {
        config: EngineConfig {
            backoff_scale: 0.001,
            ..EngineConfig::default()
        },
        limits,
        ..EngineOptions::default()
    })
    .unwrap();
    e.register_template_yaml(TIMED, "timed.yaml").unwrap();
    e.register_template_yaml(TIMED_2S, "timed_2s.yaml").unwrap();
    e.register_template_yaml(PLAIN, "plain.yaml").unwrap();
    e
}

/// A [`capped_engine`] with task A (of template `a`) and then task B (`plain`) submitted,
/// and the only step the cap lets out, A's, taken: the engine, A, B and A's step.
fn capped_a_then_b(a: &str) -> (Engine, TaskId, TaskId, ReadyStep) {
    let e = capped_engine();
    let a = submit(&e, a);
    let b = submit(&e, "plain");
    let first = take(&e, 8, WAIT);
    assert_eq!((first.len(), first[0].task_id), (1, a));
    let first = first.into_iter().next().unwrap();
    (e, a, b, first)
}

/// Nothing is queued for a worker once every message sent to the engine so far is handled
/// (`paused` is a round trip through the orchestrator, which refills the queue first).
fn nothing_queued(e: &Engine) -> bool {
    e.paused(WAIT).unwrap();
    e.take_steps(8).unwrap().is_empty()
}

#[test]
fn a_timed_out_attempt_keeps_its_cap_until_its_handler_reports() {
    let (e, a, b, first) = capped_a_then_b("timed_2s");
    // The engine times attempt 1 out; its handler is still running (it did not report).
    let deadline = std::time::Instant::now() + WAIT;
    while stat(&e, "steps_timed_out") == 0 {
        assert!(std::time::Instant::now() < deadline, "not timed out");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Neither A's retry nor B may start beside the handler still running.
    assert!(nothing_queued(&e));
    assert!(nothing_queued(&e));
    // The handler returns: its late report is ignored, and frees the cap.
    assert!(!report(&e, &first, json!({"late": true})));
    let next = take(&e, 8, WAIT);
    assert_eq!(next.len(), 1, "one at a time");
    assert!(nothing_queued(&e));
    // (A's retry is timed too: 2 s, so a descheduled test thread still reports in time.)
    assert!(report(&e, &next[0], json!(1)));
    let last = take(&e, 8, WAIT);
    assert_eq!(last.len(), 1);
    assert!(report(&e, &last[0], json!(1)));
    for id in [a, b] {
        ends_in(&e, id, State::Complete);
    }
    e.stop(WAIT).unwrap();
}

#[test]
fn a_cancelled_tasks_running_step_keeps_its_cap_until_its_handler_reports() {
    use tasker_engine::operations::{Operation, Request};
    let (e, a, b, first) = capped_a_then_b("plain");
    e.operate(a, Operation::CancelTask, Request::default(), WAIT)
        .unwrap();
    assert!(
        nothing_queued(&e),
        "B waits for the cancelled task's handler"
    );
    // The handler returns: its report is refused as before, and frees the cap.
    assert!(e.complete_step(first.step_id, json!(1)).is_err());
    let next = take(&e, 8, WAIT);
    assert_eq!(next[0].task_id, b);
    e.complete_step(next[0].step_id, json!(1)).unwrap();
    ends_in(&e, b, State::Complete);
    e.stop(WAIT).unwrap();
}
