//! Black-box tests of idempotent submission (`Engine::submit_identified`) on the in-memory
//! store: many threads submitting one identity make one task, whose steps run once; a
//! repeat after the task finished still finds it.

use serde_json::json;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;
use tasker_engine::engine::Interrupt;
use tasker_engine::{Engine, EngineOptions, Identity, SubmitRequest, WaitEnd};
use tasker_model::State;

const ONE_STEP: &str =
    "name: charge\nnamespace_name: test\nstep_templates:\n - {name: only, handler_class: H}\n";
const WAIT: Duration = Duration::from_secs(10);

fn engine() -> Arc<Engine> {
    let e = Engine::start(EngineOptions::default()).unwrap();
    e.register_template_yaml(ONE_STEP, "charge.yaml").unwrap();
    Arc::new(e)
}

fn request(context: serde_json::Value) -> SubmitRequest {
    SubmitRequest {
        name: "charge".into(),
        context,
        start: true,
        priority: 0,
        ..SubmitRequest::default()
    }
}

#[test]
fn threads_submitting_one_identity_make_one_task_that_runs_once() {
    let e = engine();
    let identity = Identity::parse("caller_provided", Some("order-1".into()), None).unwrap();
    let barrier = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (e, identity, barrier) = (e.clone(), identity.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                (0..5)
                    .map(|_| e.submit_identified(request(json!({"thread": i})), &identity, WAIT))
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap()
            })
        })
        .collect();
    let results: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let task_id = results[0].task_id;
    assert!(results.iter().all(|s| s.task_id == task_id));
    assert_eq!(results.iter().filter(|s| s.created).count(), 1);

    // Its one step is handed out once, after the commit released it.
    let interrupt = Interrupt::default();
    let steps = e
        .take_steps_waiting(8, Duration::from_secs(5), &interrupt)
        .unwrap();
    assert_eq!(steps.len(), 1);
    e.complete_step(steps[0].step_id, json!({"ok": true}))
        .unwrap();
    let _ = e.wait_for_task(task_id, WAIT, &interrupt).unwrap();
    assert_eq!(e.task(task_id).unwrap().unwrap().state, State::Complete);
    assert!(matches!(
        e.take_steps_waiting(8, Duration::from_millis(100), &interrupt),
        Err(WaitEnd::TimedOut)
    ));

    // A repeat after the task finished is still that task.
    let again = e
        .submit_identified(request(json!({})), &identity, WAIT)
        .unwrap();
    assert_eq!((again.task_id, again.created), (task_id, false));
}

#[test]
fn default_identity_reads_the_context_and_unique_never_repeats() {
    let e = engine();
    let submit = |context, identity: &Identity| {
        e.submit_identified(request(context), identity, WAIT)
            .unwrap()
    };
    let default = Identity::parse("default", None, None).unwrap();
    let a = submit(json!({"x": 1, "y": 2}), &default);
    let b = submit(json!({"y": 2, "x": 1}), &default);
    let c = submit(json!({"x": 2}), &default);
    assert!(a.created && !b.created && c.created);
    assert_eq!(a.task_id, b.task_id);
    assert_ne!(a.task_id, c.task_id);
    let unique = Identity::parse("always_unique", None, None).unwrap();
    let u1 = submit(json!({"x": 1, "y": 2}), &unique);
    let u2 = submit(json!({"x": 1, "y": 2}), &unique);
    assert!(u1.created && u2.created && u1.task_id != u2.task_id);
}
