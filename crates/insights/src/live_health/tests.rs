//! LiveHealth's unit tests: counts through retries, manual resets and refused batches, and
//! memory bounded by the work in flight.

use super::*;
use serde_json::json;
use tasker_model::{StepId, TaskId, TemplateKey, Timestamp};
use tasker_state::{HealthCounts, NewTask, StepPatch, StepRecord, TaskRecord, TransitionMeta};

fn create(task: i64, steps: &[i64], retry_limit: u32) -> Change {
    let at = Timestamp(0);
    Change::CreateTask(Box::new(NewTask {
        task: TaskRecord::new(
            TaskId(task),
            TemplateKey {
                namespace: "n".into(),
                name: "t".into(),
                version: "1".into(),
            },
            Arc::new(json!({})),
            at,
        ),
        steps: steps
            .iter()
            .enumerate()
            .map(|(i, &s)| StepRecord {
                retry_limit,
                ..StepRecord::new(
                    StepId(s),
                    TaskId(task),
                    Arc::from(format!("s{i}")),
                    i as u32,
                    at,
                )
            })
            .collect(),
        edges: Vec::new(),
        identity_hash: None,
    }))
}

fn task(task: i64, from: Option<State>, to: State) -> Change {
    Change::TaskTransition {
        task_id: TaskId(task),
        from,
        to,
        meta: TransitionMeta::engine("t"),
        at: Timestamp(0),
        complete: None,
        expect_sort_key: None,
    }
}

fn step(task: i64, step: i64, from: Option<State>, to: State, patch: StepPatch) -> Change {
    Change::StepTransition {
        task_id: TaskId(task),
        step_id: StepId(step),
        from,
        to,
        meta: TransitionMeta::engine("s"),
        at: Timestamp(0),
        patch,
        expect_sort_key: None,
    }
}

/// Step `s` handed out for the first time.
fn start(task: i64, s: i64) -> Change {
    step(task, s, None, InProgress, StepPatch::default())
}

fn fail(task: i64, s: i64, from: State, attempts: u32, retryable: bool) -> Change {
    let patch = StepPatch {
        attempts: Some(attempts),
        retryable: (!retryable).then_some(false),
        ..StepPatch::default()
    };
    step(task, s, Some(from), State::Error, patch)
}

fn commit(health: &LiveHealth, changes: Vec<Change>) {
    let update = health.prepare(&changes);
    health.apply(update);
}

use State::*;

/// The error steps split as the health counts split them: (all, retryable, exhausted).
fn error_steps(h: &LiveHealth) -> (u64, u64, u64) {
    let c = h.counts();
    (
        c.steps_in(Error),
        c.retryable_error_steps,
        c.exhausted_retry_steps,
    )
}

#[test]
fn counts_follow_a_task_through_retries_to_an_exhausted_failure() {
    let h = LiveHealth::default();
    commit(&h, vec![create(1, &[10, 11], 2)]);
    assert_eq!(
        (h.counts().tasks_in(Pending), h.counts().steps_in(Pending)),
        (1, 2)
    );
    commit(&h, vec![task(1, None, InProgress), start(1, 10)]);
    commit(&h, vec![fail(1, 10, InProgress, 1, true)]);
    assert_eq!(error_steps(&h), (1, 1, 0));
    commit(
        &h,
        vec![
            step(1, 10, Some(Error), Pending, StepPatch::default()),
            step(1, 10, Some(Pending), InProgress, StepPatch::default()),
            fail(1, 10, InProgress, 2, true),
        ],
    );
    assert_eq!(error_steps(&h), (1, 0, 1));
    commit(&h, vec![task(1, Some(InProgress), Error)]);
    let c = h.counts();
    assert_eq!(c.tasks_by_state(), [0, 0, 0, 1, 0, 0]);
    assert_eq!(c.steps_by_state(), [1, 0, 0, 1, 0, 0]);
    // The ended task's pending step is forgotten; its error step is kept (it is counted).
    assert_eq!(h.known_steps(), 1);
}

#[test]
fn a_permanent_failure_is_neither_retryable_nor_exhausted() {
    let h = LiveHealth::default();
    commit(&h, vec![create(1, &[10], 3), task(1, None, InProgress)]);
    commit(&h, vec![start(1, 10), fail(1, 10, InProgress, 1, false)]);
    assert_eq!(error_steps(&h), (1, 0, 0));
}

#[test]
fn a_manual_reset_with_a_new_limit_reclassifies_and_a_retried_task_tracks_its_steps_again() {
    let h = LiveHealth::default();
    commit(&h, vec![create(1, &[10], 1), task(1, None, InProgress)]);
    commit(
        &h,
        vec![
            start(1, 10),
            fail(1, 10, InProgress, 1, true),
            task(1, Some(InProgress), Error),
        ],
    );
    assert_eq!(h.counts().exhausted_retry_steps, 1);
    // reset_for_retry!(new_retry_limit: 5): error → pending, attempts 0; the task resumes.
    let reset = StepPatch {
        attempts: Some(0),
        retry_limit: Some(5),
        ..StepPatch::default()
    };
    commit(
        &h,
        vec![
            step(1, 10, Some(Error), Pending, reset),
            task(1, Some(Error), Pending),
        ],
    );
    let c = h.counts();
    assert_eq!(
        (
            c.steps_in(Error),
            c.exhausted_retry_steps,
            c.steps_in(Pending)
        ),
        (0, 0, 1)
    );
    commit(
        &h,
        vec![
            task(1, Some(Pending), InProgress),
            step(1, 10, Some(Pending), InProgress, StepPatch::default()),
            fail(1, 10, InProgress, 1, true),
        ],
    );
    // The new limit (5) was remembered: one attempt of five is retryable.
    assert_eq!(h.counts().retryable_error_steps, 1);
    commit(
        &h,
        vec![
            step(1, 10, Some(Error), Pending, StepPatch::default()),
            step(1, 10, Some(Pending), InProgress, StepPatch::default()),
            step(1, 10, Some(InProgress), Complete, StepPatch::default()),
            task(1, Some(InProgress), Complete),
        ],
    );
    let c = h.counts();
    assert_eq!(c.tasks_by_state(), [0, 0, 1, 0, 0, 0]);
    assert_eq!(c.steps_by_state(), [0, 0, 1, 0, 0, 0]);
    assert_eq!((c.retryable_error_steps, c.exhausted_retry_steps), (0, 0));
    assert_eq!(h.known_steps(), 0, "nothing is kept for finished work");
}

#[test]
fn a_batch_that_is_not_applied_moves_nothing_and_seeding_starts_from_stored_counts() {
    let h = LiveHealth::seeded(&HealthCounts {
        pending_tasks: 2,
        complete_tasks: 5,
        error_tasks: 1,
        pending_steps: 4,
        complete_steps: 20,
        error_steps: 1,
        exhausted_retry_steps: 1,
        ..HealthCounts::default()
    });
    let refused = h.prepare(&[create(9, &[90], 3)]);
    drop(refused);
    assert_eq!(h.counts().tasks_by_state(), [2, 0, 5, 1, 0, 0]);
    commit(&h, vec![create(9, &[90], 3)]);
    assert_eq!(h.counts().tasks_by_state(), [3, 0, 5, 1, 0, 0]);
    assert_eq!(h.counts().pending_steps, 5);
}

#[test]
fn memory_follows_the_work_in_flight_not_the_work_done() {
    let h = LiveHealth::default();
    for t in 0..1_000i64 {
        let s = t * 10;
        commit(
            &h,
            vec![create(t, &[s, s + 1], 3), task(t, None, InProgress)],
        );
        commit(
            &h,
            vec![
                start(t, s),
                step(t, s, Some(InProgress), Complete, StepPatch::default()),
                step(t, s + 1, None, InProgress, StepPatch::default()),
                step(t, s + 1, Some(InProgress), Complete, StepPatch::default()),
                task(t, Some(InProgress), Complete),
            ],
        );
    }
    assert_eq!(h.counts().tasks_in(Complete), 1_000);
    assert_eq!(h.counts().steps_in(Complete), 2_000);
    assert_eq!(h.known_steps(), 0);
    assert!(h.known.lock().task_steps.is_empty());
}

#[test]
fn a_late_seed_adds_to_what_committed_before_it_and_readings_wait_for_it() {
    let h = Arc::new(LiveHealth::awaiting_seed());
    assert!(!h.is_seeded());
    // Committed while the stored counts were being read (which, the engine ensures, did
    // not see this batch).
    commit(&h, vec![create(9, &[90, 91], 3)]);
    let reader = {
        let h = h.clone();
        std::thread::spawn(move || h.counts())
    };
    h.seed(Some(&HealthCounts {
        complete_tasks: 5,
        complete_steps: 20,
        error_steps: 1,
        retryable_error_steps: 1,
        ..HealthCounts::default()
    }));
    let c = reader.join().expect("the reading returns once seeded");
    assert_eq!(c.tasks_by_state(), [1, 0, 5, 0, 0, 0]);
    assert_eq!(c.steps_by_state(), [2, 0, 20, 1, 0, 0]);
    assert_eq!(c.retryable_error_steps, 1);
    assert_eq!(h.counts(), c);
}

#[test]
fn a_failed_seed_still_lets_readings_through() {
    let h = LiveHealth::awaiting_seed();
    commit(&h, vec![create(1, &[10], 3)]);
    h.seed(None);
    assert_eq!(h.counts().tasks_by_state(), [1, 0, 0, 0, 0, 0]);
}
