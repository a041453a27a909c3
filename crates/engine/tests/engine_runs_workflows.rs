//! Black-box tests: a real engine (actix System on its own threads), a worker thread that
//! takes and reports, and the in-memory store read back.

mod support;

use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;
use support::take;
use tasker_engine::engine::{Interrupt, WaitEnd};
use tasker_engine::{Engine, EngineOptions, StepFailure, SubmitRequest};
use tasker_model::{EngineConfig, State, StepId, TaskId, TaskerResult};

const DIAMOND: &str = "name: diamond\nnamespace_name: test\nstep_templates:\n - {name: a, handler_class: H}\n - {name: b, handler_class: H, depends_on_step: a}\n - {name: c, handler_class: H, depends_on_step: a}\n - {name: d, handler_class: H, depends_on_steps: [b, c], default_retry_limit: 3}\n";

fn engine() -> Arc<Engine> {
    let e = Engine::start(EngineOptions {
        config: EngineConfig {
            backoff_scale: 0.001,
            ..EngineConfig::default()
        },
        ..EngineOptions::default()
    })
    .unwrap();
    e.register_template_yaml(DIAMOND, "diamond.yaml").unwrap();
    Arc::new(e)
}

/// Runs steps until `stop`; step `d` fails `d_failures` times first.
fn worker(
    engine: Arc<Engine>,
    stop: Arc<AtomicBool>,
    d_failures: u32,
) -> thread::JoinHandle<Vec<String>> {
    thread::spawn(move || {
        let mut ran = Vec::new();
        let mut failed = 0;
        let interrupt = Interrupt::default();
        while !stop.load(Ordering::Relaxed) {
            let Ok(steps) = engine.take_steps_waiting(8, Duration::from_millis(20), &interrupt)
            else {
                continue;
            };
            for s in steps {
                ran.push(s.name().to_string());
                if &**s.name() == "d" && failed < d_failures {
                    failed += 1;
                    engine
                        .fail_step(
                            s.step_id,
                            StepFailure {
                                error_class: "Flaky".into(),
                                message: format!("failure {failed}"),
                                retryable: true,
                                retry_after: None,
                                details: None,
                            },
                        )
                        .unwrap();
                } else {
                    let parents: Vec<String> = s
                        .parent_results
                        .iter()
                        .map(|(n, _)| n.to_string())
                        .collect();
                    engine
                        .complete_step(s.step_id, json!({"step": &**s.name(), "parents": parents}))
                        .unwrap();
                }
            }
        }
        ran
    })
}

/// A [`worker`] thread and the flag that stops it.
struct Worker {
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<Vec<String>>,
}

impl Worker {
    fn start(engine: &Arc<Engine>, d_failures: u32) -> Worker {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = worker(engine.clone(), stop.clone(), d_failures);
        Worker { stop, thread }
    }

    /// Stops the worker; the names of the steps it ran, in order.
    fn stop(self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// Submits one task with a [`Worker`] running, waits for the task to end, and stops the
/// worker: the task, how its wait ended, and the steps the worker ran.
fn run_one(engine: &Arc<Engine>, d_failures: u32) -> (TaskId, Result<State, WaitEnd>, Vec<String>) {
    let w = Worker::start(engine, d_failures);
    let id = submit(engine);
    let end = engine
        .wait_for_task(id, Duration::from_secs(5), &Interrupt::default())
        .unwrap();
    (id, end, w.stop())
}

/// An engine with one task submitted whose root step `a`, taken alone, has completed: the
/// engine, the task and the root's step id.
fn with_root_completed() -> (Arc<Engine>, TaskId, StepId) {
    let engine = engine();
    let id = submit(&engine);
    let steps = take(&engine, 8, Duration::from_secs(2));
    assert_eq!(steps.len(), 1);
    engine.complete_step(steps[0].step_id, json!(1)).unwrap();
    (engine, id, steps[0].step_id)
}

fn submit(engine: &Engine) -> TaskId {
    engine
        .submit(SubmitRequest {
            name: "diamond".into(),
            context: json!({"n": 1}),
            start: true,
            priority: 0,
            ..SubmitRequest::default()
        })
        .unwrap()
}

/// `result` is an error whose message says `words`.
fn assert_error_says<T: std::fmt::Debug>(result: TaskerResult<T>, words: &str) {
    let message = result.unwrap_err().to_string();
    assert!(message.contains(words), "{message}");
}

#[test]
fn a_diamond_completes_with_parents_before_children() {
    let engine = engine();
    let (id, state, ran) = run_one(&engine, 0);
    assert_eq!(state, Ok(State::Complete));
    assert_eq!(ran.first().map(String::as_str), Some("a"));
    assert_eq!(ran.last().map(String::as_str), Some("d"));
    let view = engine.task(id).unwrap().unwrap();
    assert_eq!(view.state, State::Complete);
    assert!(view.task.complete);
    for step in &view.steps {
        assert_eq!(step.state, State::Complete, "{}", step.step.name);
        assert!(step.step.processed && !step.step.in_process);
        let path: Vec<&str> = step
            .transitions
            .iter()
            .map(|t| t.to_state.as_str())
            .collect();
        assert_eq!(path, vec!["in_progress", "complete"]);
    }
    assert_eq!(
        view.steps[3].step.results.as_deref(),
        Some(&json!({"step": "d", "parents": ["b", "c"]}))
    );
    engine.stop(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_flaky_step_is_retried_and_the_task_completes() {
    let engine = engine();
    let (id, state, _) = run_one(&engine, 2);
    assert_eq!(state, Ok(State::Complete));
    let d = &engine.task(id).unwrap().unwrap().steps[3];
    let path: Vec<&str> = d.transitions.iter().map(|t| t.to_state.as_str()).collect();
    assert_eq!(
        path,
        vec![
            "in_progress",
            "error",
            "pending",
            "in_progress",
            "error",
            "pending",
            "in_progress",
            "complete"
        ]
    );
    assert_eq!(d.step.attempts, Some(2));
    engine.stop(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_step_that_always_fails_ends_the_task_in_error() {
    let engine = engine();
    let (id, state, _) = run_one(&engine, u32::MAX);
    assert_eq!(state, Ok(State::Error));
    let view = engine.task(id).unwrap().unwrap();
    assert_eq!(view.steps[3].step.attempts, Some(3));
    assert_eq!(view.steps[3].state, State::Error);
    assert!(!view.task.complete);
    engine.stop(Duration::from_secs(5)).unwrap();
}

#[test]
fn reports_of_unknown_or_repeated_steps_are_refused() {
    let (engine, id, a) = with_root_completed();
    assert_error_says(engine.complete_step(a, json!(1)), "is not handed out");
    assert!(engine.complete_step(StepId(999_999), json!(1)).is_err());
    let _ = id;
    engine.stop(Duration::from_secs(5)).unwrap();
}

#[test]
fn stop_takes_back_queued_and_started_steps() {
    let (engine, id, _) = with_root_completed();
    // b and c become ready; take one (started), leave the other queued.
    let started = take(&engine, 1, Duration::from_secs(2));
    assert_eq!(started.len(), 1);
    engine.flush(Duration::from_secs(2)).unwrap();
    let taken_back = engine.stop(Duration::from_secs(5)).unwrap();
    assert_eq!(taken_back, 2);
    let view = engine.task(id).unwrap().unwrap();
    assert!(view.steps.iter().all(|s| !s.step.in_process));
    let started_step = view
        .steps
        .iter()
        .find(|s| s.step.step_id == started[0].step_id)
        .unwrap();
    assert_eq!(started_step.state, State::Error);
    assert_eq!(
        started_step.transitions.last().unwrap().meta.reason,
        "engine_stopped"
    );
    let report = engine.complete_step(started[0].step_id, json!(1));
    assert_error_says(report, "engine is stopped");
}

#[test]
fn an_interrupt_ends_a_waiting_drain() {
    let engine = engine();
    let interrupt = Arc::new(Interrupt::default());
    let (e2, i2) = (engine.clone(), interrupt.clone());
    let t = thread::spawn(move || e2.take_steps_waiting(8, Duration::from_secs(30), &i2));
    thread::sleep(Duration::from_millis(50));
    let t0 = std::time::Instant::now();
    interrupt.trigger();
    let r = t.join().unwrap();
    assert!(r.is_err());
    assert!(t0.elapsed() < Duration::from_millis(50));
}

#[test]
fn start_and_stop_many_times_leaves_no_threads() {
    let threads = || std::fs::read_dir("/proc/self/task").unwrap().count();
    let before = threads();
    for _ in 0..50 {
        let e = Engine::start(EngineOptions::default()).unwrap();
        e.stop(Duration::from_secs(5)).unwrap();
    }
    // Other tests run in parallel threads of this process; allow for them.
    assert!(
        threads() <= before + 8,
        "{} threads before, {} after",
        before,
        threads()
    );
}

#[test]
fn a_rust_subscriber_gets_the_events_it_asked_for_after_their_commit() {
    use tasker_event_bus::{Delivery, Overflow};
    let engine = engine();
    let sub = engine
        .subscribe(&["task.*", "step.failed"], 1024, Overflow::DropNewest)
        .unwrap();
    let w = Worker::start(&engine, 1);
    let id = submit(&engine);
    let mut names = Vec::new();
    loop {
        let Ok(Delivery::Event(e)) = sub.receiver.recv_timeout(Duration::from_secs(5)) else {
            panic!("no event within 5 s; got {names:?}");
        };
        names.push(e.name().to_string());
        if e.name() == "task.completed" {
            // Announced after its commit: the store already shows it.
            assert_eq!(engine.task(id).unwrap().unwrap().state, State::Complete);
            break;
        }
    }
    w.stop();
    assert_eq!(
        names,
        [
            "task.initialize_requested",
            "task.start_requested",
            "step.failed",
            "task.completed"
        ]
    );
    assert_eq!(sub.stats.dropped.load(Ordering::Relaxed), 0);
}

/// The outcome an engine keeps of a task it finished is the one the store holds; a task
/// with a failed step is left to the store; a manual operation drops the kept outcome and
/// the store answers until the operation's own finish is kept.
#[test]
fn a_finished_task_is_read_back_from_memory_as_the_store_has_it() {
    use tasker_engine::operations::{Operation, Request};
    use tasker_engine::TaskOutcome;
    let engine = engine();
    let w = Worker::start(&engine, 1);
    let clean = submit(&engine);
    let wait = |id| {
        engine
            .wait_for_task(id, Duration::from_secs(5), &Interrupt::default())
            .unwrap()
    };
    assert_eq!(wait(clean), Ok(State::Complete));
    // The worker fails `d` once: the second task retries it and completes.
    let flaky_first = submit(&engine);
    assert_eq!(wait(flaky_first), Ok(State::Complete));
    w.stop();

    // Which of the two tasks met the failure depends on the worker's order; the one that
    // did is not kept, and its outcome from the store names the failure.
    let (failed_one, kept_id) = match engine.kept_outcome(clean) {
        Some(_) => (flaky_first, clean),
        None => (clean, flaky_first),
    };
    assert!(engine.kept_outcome(failed_one).is_none());
    let read = engine.task_outcome(failed_one).unwrap().unwrap();
    assert_eq!(read.state, State::Complete);
    assert_eq!(read.steps[3].error.as_deref(), Some("failure 1"));

    let kept = engine
        .kept_outcome(kept_id)
        .expect("kept once its finish committed");
    let stored = TaskOutcome::from_view(&engine.task(kept_id).unwrap().unwrap());
    assert_eq!(*kept, stored);
    assert_eq!(kept.steps.len(), 4);
    assert_eq!(
        kept.steps[3].results.as_deref(),
        Some(&json!({"step": "d", "parents": ["b", "c"]}))
    );
    assert_eq!(engine.task_state(kept_id).unwrap(), Some(State::Complete));

    engine
        .operate(
            kept_id,
            Operation::CancelTask,
            Request::default(),
            Duration::from_secs(5),
        )
        .unwrap();
    let after = engine.task_outcome(kept_id).unwrap().unwrap();
    assert_eq!(after.state, State::Cancelled);
    assert_eq!(engine.task_state(kept_id).unwrap(), Some(State::Cancelled));
    engine.stop(Duration::from_secs(5)).unwrap();
}

#[test]
fn registration_parses_what_it_is_given_not_what_was_checked_before() {
    // The checks before a registration keep the template they parsed for it; a registration
    // of other text (or the same text under another source) must not take that one.
    let e = engine();
    let checked = DIAMOND.replace("name: diamond", "name: checked");
    let registered = DIAMOND.replace("name: diamond", "name: registered");
    assert_eq!(
        e.undeclared_handlers_in(std::path::Path::new("c.yaml"), Some(&checked))
            .unwrap(),
        ["H"]
    );
    assert!(e
        .ractor_steps_in_yaml(&checked, "c.yaml")
        .unwrap()
        .is_empty());
    let keys = e.register_template_yaml(&registered, "c.yaml").unwrap();
    assert_eq!(keys, ["test/registered@0.1.0"]);
    assert!(e.template("checked", Some("test"), None).is_err());

    // The same text and source, checked then registered: the checked template is registered.
    assert!(e
        .ractor_steps_in_yaml(&checked, "c.yaml")
        .unwrap()
        .is_empty());
    assert_eq!(
        e.register_template_yaml(&checked, "c.yaml").unwrap(),
        ["test/checked@0.1.0"]
    );
    // A source that differs is parsed anew, so errors name the source given.
    let bad = checked.replace("depends_on_step: a", "depends_on_step: zz");
    assert!(e
        .ractor_steps_in_yaml(&checked, "c.yaml")
        .unwrap()
        .is_empty());
    assert_error_says(e.register_template_yaml(&bad, "bad.yaml"), "bad.yaml");
}

#[test]
fn registration_applies_a_declaration_made_after_the_checks_compiled_the_template() {
    // The checks keep the template they compiled for the registration; a handler class
    // that declares where it runs in between must not be ignored.
    let e = engine();
    let yaml = DIAMOND.replace("name: diamond", "name: declared");
    assert!(e.ractor_steps_in_yaml(&yaml, "d.yaml").unwrap().is_empty());
    e.declare_handler_execution("H", tasker_model::Execution::Ractor);
    assert_eq!(
        e.register_template_yaml(&yaml, "d.yaml").unwrap(),
        ["test/declared@0.1.0"]
    );
    assert!(runs_all_in_ractors(&e, "declared"));

    // Declaring it again (no change) keeps what the checks compiled, which says the same.
    let again = yaml.replace("name: declared", "name: again");
    assert_eq!(e.ractor_steps_in_yaml(&again, "a.yaml").unwrap().len(), 4);
    e.declare_handler_execution("H", tasker_model::Execution::Ractor);
    e.register_template_yaml(&again, "a.yaml").unwrap();
    assert!(runs_all_in_ractors(&e, "again"));
}

/// A directory of its own under the temp dir holding `files` (name, text), removed on drop.
struct TemplateDir(std::path::PathBuf);

impl TemplateDir {
    fn new(name: &str, files: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!("tasker_core_{name}_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (file, text) in files {
            std::fs::write(dir.join(file), text).unwrap();
        }
        TemplateDir(dir)
    }
}

impl Drop for TemplateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_path_registration_reads_and_parses_its_files_once_across_the_checks() {
    // The checks before a path's registration keep what they read, parsed and compiled; the
    // registration registers that, so a file that changes after the first check (here:
    // removed) is not read again, and what is registered is what the checks looked at.
    let e = engine();
    let a = DIAMOND.replace("name: diamond", "name: dir_a");
    let b = DIAMOND.replace("name: diamond", "name: dir_b");
    let dir = TemplateDir::new("read_once", &[("a.yaml", &a), ("b.yaml", &b)]);
    assert_eq!(e.undeclared_handlers_in(&dir.0, None).unwrap(), ["H"]);
    std::fs::remove_file(dir.0.join("b.yaml")).unwrap();
    assert!(e.ractor_steps_in(&dir.0).unwrap().is_empty());
    std::fs::remove_file(dir.0.join("a.yaml")).unwrap();
    assert_eq!(
        e.register_templates(&dir.0).unwrap(),
        ["test/dir_a@0.1.0", "test/dir_b@0.1.0"]
    );

    // Nothing is kept once registered: the next registration of the path reads it again.
    std::fs::write(dir.0.join("a.yaml"), &a).unwrap();
    assert_eq!(e.register_templates(&dir.0).unwrap(), ["test/dir_a@0.1.0"]);

    // The first check always reads the files: what an earlier call kept for the same path
    // (a check that no registration followed) is not taken for it.
    std::fs::write(dir.0.join("b.yaml"), &b).unwrap();
    assert!(e.ractor_steps_in(&dir.0).unwrap().is_empty());
    std::fs::remove_file(dir.0.join("b.yaml")).unwrap();
    assert_eq!(e.undeclared_handlers_in(&dir.0, None).unwrap(), ["H"]);
    assert_eq!(e.register_templates(&dir.0).unwrap(), ["test/dir_a@0.1.0"]);
}

#[test]
fn a_path_registration_applies_a_declaration_made_after_the_checks_compiled_it() {
    let e = engine();
    let yaml = DIAMOND.replace("name: diamond", "name: dir_declared");
    let dir = TemplateDir::new("declared", &[("d.yaml", &yaml)]);
    assert_eq!(e.undeclared_handlers_in(&dir.0, None).unwrap(), ["H"]);
    assert!(e.ractor_steps_in(&dir.0).unwrap().is_empty());
    e.declare_handler_execution("H", tasker_model::Execution::Ractor);
    assert_eq!(
        e.register_templates(&dir.0).unwrap(),
        ["test/dir_declared@0.1.0"]
    );
    assert!(runs_all_in_ractors(&e, "dir_declared"));
}

#[test]
fn a_path_registration_takes_nothing_kept_for_another_path_or_for_text() {
    let e = engine();
    let a = DIAMOND.replace("name: diamond", "name: path_a");
    let b = DIAMOND.replace("name: diamond", "name: path_b");
    let dir_a = TemplateDir::new("other_a", &[("a.yaml", &a)]);
    let dir_b = TemplateDir::new("other_b", &[("b.yaml", &b)]);
    assert!(e.ractor_steps_in(&dir_a.0).unwrap().is_empty());
    assert_eq!(
        e.register_templates(&dir_b.0).unwrap(),
        ["test/path_b@0.1.0"]
    );
    // Text checked under the path's name as its source is not the path's files.
    let text = DIAMOND.replace("name: diamond", "name: text");
    let source = dir_a.0.display().to_string();
    assert!(e.ractor_steps_in_yaml(&text, &source).unwrap().is_empty());
    assert_eq!(
        e.register_templates(&dir_a.0).unwrap(),
        ["test/path_a@0.1.0"]
    );
    assert!(e.template("text", Some("test"), None).is_err());
}

/// Whether every step of the registered template `test/name` runs in a Ractor.
fn runs_all_in_ractors(e: &Engine, name: &str) -> bool {
    let t = e.template(name, Some("test"), None).unwrap();
    t.executions
        .iter()
        .all(|x| *x == tasker_model::Execution::Ractor)
}
