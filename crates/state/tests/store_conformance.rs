//! One suite of store behaviours, run against every backend: `MemoryStore` (the reference),
//! `SqliteStore` on a temp file, and `PostgresStore` in a fresh schema made for each test
//! and dropped after it (`TASKER_TEST_DATABASE_URL`, default the local `test` database;
//! without a server the PostgreSQL cases print one `SKIPPED:` line, or fail under `CI`).
//!
//! Then what only the SQL stores do: reopening, ids across processes, task claims, a stale
//! cache caught by the database, URL parsing. And an ignored throughput measurement:
//! `cargo test -p tasker-state --release --test store_conformance -- --ignored --nocapture`.

#[macro_use]
mod conformance;

use conformance::bench;
use conformance::db::{expecting, Db};
use conformance::*;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tasker_model::{StepId, TaskId, TaskTemplate, TaskerError, TaskerResult, Timestamp};
use tasker_state::{
    open_store, Change, HealthCounts, MemoryStore, PostgresStore, StepPatch, StepView, Store,
    TaskView, TransitionMeta,
};

suite!(
    a_created_task_reads_back_whole,
    history_keeps_one_most_recent_and_rising_sort_keys,
    a_refused_transition_writes_nothing,
    a_stale_sort_key_is_a_concurrent_modification_and_writes_nothing,
    patched_columns_round_trip,
    unfinished_tasks_are_pending_and_in_progress_oldest_first,
    the_same_batches_give_what_memory_gives,
    reopening_shows_the_same_data_and_allocates_fresh_ids,
    an_amendment_keeps_the_state_and_appends_a_row,
    health_counted_in_background_is_a_count_of_then,
    a_task_of_a_template_registered_again_with_other_steps_still_commits,
    a_task_priority_reads_back_with_its_task,
);

fn at(micros: i64) -> Timestamp {
    // A fixed instant with a non-zero microsecond part, so precision loss would show.
    Timestamp(1_700_000_000_000_001 + micros)
}

/// A store with the template registered and one new task created.
fn store_with_task(db: &Db) -> (Arc<dyn Store>, TaskView) {
    let store = db.open();
    let template = template();
    store.register_template(&template).expect("register");
    let id = create_task(store.as_ref(), &template, at(0)).task.task_id;
    let view = store.task(id).expect("read").expect("exists");
    (store, view)
}

/// [`store_with_task`] with the ids the single-step tests act on: the task's and that of its
/// step number `step`.
fn store_with_step(db: &Db, step: usize) -> (Arc<dyn Store>, TaskView, TaskId, StepId) {
    let (store, view) = store_with_task(db);
    let (t, s) = (view.task.task_id, view.steps[step].step.step_id);
    (store, view, t, s)
}

/// A priority is not a Tasker column: the SQL stores keep a non-zero one in
/// `tasker_core_task_priorities`, written in the task's batch, read back with the task.
fn a_task_priority_reads_back_with_its_task(db: &Db) {
    let store = db.open();
    let template = template();
    store.register_template(&template).expect("register");
    let mut batch = Vec::new();
    let mut ids = Vec::new();
    for (i, priority) in [7, 0, -3, i32::MAX].into_iter().enumerate() {
        let mut new = new_task(store.as_ref(), &template, at(i as i64));
        new.task.priority = priority;
        ids.push((new.task.task_id, priority));
        batch.push(Change::CreateTask(Box::new(new)));
    }
    apply(store.as_ref(), batch).expect("create");
    for (id, priority) in ids {
        let view = store.task(id).expect("read").expect("exists");
        assert_eq!(view.task.priority, priority, "task {id}");
    }
}

fn a_created_task_reads_back_whole(db: &Db) {
    let store = db.open();
    let template = template();
    store.register_template(&template).expect("register");
    let new = new_task(store.as_ref(), &template, at(0));
    let id = new.task.task_id;
    apply(
        store.as_ref(),
        vec![Change::CreateTask(Box::new(new.clone()))],
    )
    .expect("create");

    let view = store.task(id).expect("read").expect("exists");
    let parents = |i: usize| -> Vec<StepId> {
        new.edges
            .iter()
            .filter(|(_, c)| *c == new.steps[i].step_id)
            .map(|(p, _)| *p)
            .collect()
    };
    let expected = TaskView {
        task: new.task.clone(),
        state: State::Pending,
        transitions: vec![],
        steps: (0..new.steps.len())
            .map(|i| StepView {
                step: new.steps[i].clone(),
                state: State::Pending,
                transitions: vec![],
                parents: parents(i),
            })
            .collect(),
    };
    assert_eq!(view, expected);
    assert_eq!(
        view.steps[2].parents.len(),
        2,
        "ship depends on fetch and charge"
    );
    assert_eq!(store.task_state(id).unwrap(), Some(State::Pending));
    assert_eq!(store.task(TaskId(987_654_321)).unwrap(), None);
    assert_eq!(store.task_state(TaskId(987_654_321)).unwrap(), None);
}

fn history_keeps_one_most_recent_and_rising_sort_keys(db: &Db) {
    let (store, view) = store_with_task(db);
    let t = view.task.task_id;
    let [s0, s1, ..] = [
        view.steps[0].step.step_id,
        view.steps[1].step.step_id,
        StepId(0),
    ];
    let store = store.as_ref();
    apply_one(
        store,
        task_move(t, State::Pending, State::InProgress, at(1)),
    );
    apply_one(
        store,
        step_move(t, s0, State::Pending, State::InProgress, at(2)),
    );
    // Several transitions of one step in one batch, and of two steps interleaved.
    apply(
        store,
        vec![
            step_move(t, s0, State::InProgress, State::Error, at(3)),
            step_move(t, s1, State::Pending, State::InProgress, at(3)),
            step_move(t, s0, State::Error, State::Pending, at(4)),
            step_move(t, s0, State::Pending, State::InProgress, at(5)),
            step_move(t, s1, State::InProgress, State::Complete, at(5)),
        ],
    )
    .unwrap();
    let view = store.task(t).unwrap().unwrap();
    let keys =
        |h: &[tasker_state::TransitionRecord]| h.iter().map(|r| r.sort_key).collect::<Vec<_>>();
    let s0h = &view.steps[0].transitions;
    assert_eq!(keys(s0h), vec![1, 2, 3, 4]);
    assert_eq!(s0h.iter().filter(|r| r.most_recent).count(), 1);
    assert!(s0h.last().unwrap().most_recent);
    assert_eq!(
        s0h.iter()
            .map(|r| (r.from_state, r.to_state))
            .collect::<Vec<_>>(),
        vec![
            (Some(State::Pending), State::InProgress),
            (Some(State::InProgress), State::Error),
            (Some(State::Error), State::Pending),
            (Some(State::Pending), State::InProgress),
        ]
    );
    assert_eq!(s0h[2].created_at, at(4));
    assert_eq!(view.steps[0].state, State::InProgress);
    assert_eq!(keys(&view.steps[1].transitions), vec![1, 2]);
    assert_eq!(view.steps[1].state, State::Complete);
    assert!(view.steps[2].transitions.is_empty());
    assert_eq!(view.state, State::InProgress);
    assert_eq!(keys(&view.transitions), vec![1]);
    assert!(view.transitions[0].most_recent);

    apply_one(
        store,
        task_move(t, State::InProgress, State::Complete, at(6)),
    );
    let view = store.task(t).unwrap().unwrap();
    assert_eq!(keys(&view.transitions), vec![1, 2]);
    assert_eq!(
        view.transitions
            .iter()
            .map(|r| r.most_recent)
            .collect::<Vec<_>>(),
        vec![false, true]
    );
    assert!(view.task.complete);
    assert_eq!(view.task.updated_at, at(6));
    assert_eq!(store.task_state(t).unwrap(), Some(State::Complete));
}

fn a_refused_transition_writes_nothing(db: &Db) {
    let (store, before, t, s) = store_with_step(db, 0);
    let store = store.as_ref();
    let err = refused(
        store,
        vec![
            step_move(t, s, State::Pending, State::InProgress, at(1)),
            step_move(t, s, State::InProgress, State::Pending, at(2)),
        ],
    );
    assert!(matches!(err, TaskerError::StateTransition { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!("step {s} of task {t} cannot move from in_progress to pending; allowed from in_progress: complete, error, cancelled")
    );
    assert_eq!(store.task(t).unwrap().as_ref(), Some(&before));

    let err = refused(
        store,
        vec![step_move(t, s, State::Error, State::Pending, at(3))],
    );
    assert!(matches!(err, TaskerError::InvalidState { .. }), "{err}");
    assert!(err.to_string().contains("is pending, not error"), "{err}");

    let err = refused(
        store,
        vec![step_move(
            t,
            StepId(987_654_321),
            State::Pending,
            State::InProgress,
            at(3),
        )],
    );
    assert_eq!(
        err,
        TaskerError::Database("step 987654321 does not exist".into())
    );
    let err = refused(
        store,
        vec![task_move(
            TaskId(987_654_321),
            State::Pending,
            State::InProgress,
            at(3),
        )],
    );
    assert_eq!(
        err,
        TaskerError::Database("task 987654321 does not exist".into())
    );

    // A batch that creates a task and then fails creates nothing.
    let template = template();
    let new = new_task(store, &template, at(4));
    let new_id = new.task.task_id;
    let new_step = new.steps[0].step_id;
    let err = refused(
        store,
        vec![
            Change::CreateTask(Box::new(new.clone())),
            step_move(new_id, new_step, State::Pending, State::Complete, at(5)),
        ],
    );
    assert!(matches!(err, TaskerError::StateTransition { .. }), "{err}");
    assert_eq!(store.task(new_id).unwrap(), None);
    assert!(!store.unfinished_tasks().unwrap().contains(&new_id));
    // Creating the same task twice in one batch is refused as MemoryStore refuses it.
    let err = refused(
        store,
        vec![
            Change::CreateTask(Box::new(new.clone())),
            Change::CreateTask(Box::new(new.clone())),
        ],
    );
    assert_eq!(
        err,
        TaskerError::Database(format!("task {new_id} already exists"))
    );
    // The good version of the batch still goes through afterwards.
    apply(store, vec![Change::CreateTask(Box::new(new))]).unwrap();
    assert_eq!(store.task(t).unwrap().as_ref(), Some(&before));
}

/// A same-state transition (an audited edit of a finished step's results) is accepted only in
/// the states `State::step_can_amend` names, and moves the history head like any other.
fn an_amendment_keeps_the_state_and_appends_a_row(db: &Db) {
    let (store, _, t, s) = store_with_step(db, 0);
    let store = store.as_ref();
    let err = refused(
        store,
        vec![step_move(t, s, State::Pending, State::Pending, at(1))],
    );
    assert!(matches!(err, TaskerError::StateTransition { .. }), "{err}");
    apply(
        store,
        vec![
            step_move(t, s, State::Pending, State::InProgress, at(1)),
            step_move(t, s, State::InProgress, State::Complete, at(2)),
        ],
    )
    .unwrap();
    let mut amend = step_move(t, s, State::Complete, State::Complete, at(3));
    if let Change::StepTransition {
        patch,
        expect_sort_key,
        ..
    } = &mut amend
    {
        patch.results = Some(Arc::new(json!({"fixed": true})));
        *expect_sort_key = Some(2);
    }
    apply(store, vec![amend.clone()]).unwrap();
    let after = store.task(t).unwrap().unwrap();
    let step = &after.steps[0];
    assert_eq!(step.state, State::Complete);
    assert_eq!(step.step.results.as_deref(), Some(&json!({"fixed": true})));
    let keys: Vec<_> = step
        .transitions
        .iter()
        .map(|r| (r.from_state, r.to_state, r.sort_key, r.most_recent))
        .collect();
    assert_eq!(
        keys,
        vec![
            (Some(State::Pending), State::InProgress, 1, false),
            (Some(State::InProgress), State::Complete, 2, false),
            (Some(State::Complete), State::Complete, 3, true),
        ]
    );
    // The same edit from a reader who saw sort_key 2 is now stale.
    let err = refused(store, vec![amend]);
    assert!(
        matches!(err, TaskerError::ConcurrentModification { .. }),
        "{err}"
    );
    assert_eq!(store.task(t).unwrap().unwrap(), after);
}

fn a_stale_sort_key_is_a_concurrent_modification_and_writes_nothing(db: &Db) {
    let (store, _, t, s) = store_with_step(db, 0);
    let store = store.as_ref();
    apply_one(
        store,
        step_move(t, s, State::Pending, State::InProgress, at(1)),
    );
    let before = store.task(t).unwrap();

    let stale = expecting(step_move(t, s, State::InProgress, State::Error, at(2)), 0);
    let err = refused(store, vec![stale]);
    assert!(
        matches!(err, TaskerError::ConcurrentModification { .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!("step {s} of task {t} was changed by someone else (its history is at sort_key 1, not 0); nothing was written: read it again and retry")
    );
    assert_eq!(store.task(t).unwrap(), before);

    let patch = Change::PatchStep {
        step_id: s,
        at: at(2),
        patch: StepPatch {
            attempts: Some(9),
            ..StepPatch::default()
        },
        expect_sort_key: None,
    };
    let err = refused(store, vec![expecting(patch.clone(), 2)]);
    assert!(
        matches!(err, TaskerError::ConcurrentModification { .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("step {s} was changed")),
        "{err}"
    );
    let err = refused(
        store,
        vec![expecting(
            task_move(t, State::Pending, State::InProgress, at(2)),
            3,
        )],
    );
    assert!(err.to_string().contains("sort_key 0, not 3"), "{err}");
    assert_eq!(store.task(t).unwrap(), before);

    apply(store, vec![expecting(patch, 1)]).unwrap();
    apply(
        store,
        vec![expecting(
            step_move(t, s, State::InProgress, State::Error, at(3)),
            1,
        )],
    )
    .unwrap();
    let after = store.task(t).unwrap().unwrap();
    assert_eq!(after.steps[0].step.attempts, Some(9));
    assert_eq!(after.steps[0].state, State::Error);
}

fn patched_columns_round_trip(db: &Db) {
    let (store, view, t, s) = store_with_step(db, 1);
    let store = store.as_ref();
    let results = json!({"charged": 12.5, "ids": [1, 2, 3], "nested": {"ok": true, "none": null}, "text": "ünï ✓"});
    let change = Change::StepTransition {
        task_id: t,
        step_id: s,
        from: Some(State::Pending),
        to: State::InProgress,
        meta: TransitionMeta {
            reason: "handed out".into(),
            actor: "engine".into(),
            error_class: Some("Net::Timeout".into()),
            error_message: Some("took \"too\" long".into()),
            duration_ms: Some(12.75),
            attempt: Some(2),
            extra: Some(json!({"worker": "w-1"})),
        },
        at: at(7),
        patch: StepPatch {
            in_process: Some(true),
            processed: Some(false),
            retryable: Some(false),
            processed_at: Some(at(123_456)),
            attempts: Some(2),
            retry_limit: Some(7),
            last_attempted_at: Some(at(999_999)),
            backoff_request_seconds: Some(Some(30)),
            results: Some(Arc::new(results.clone())),
        },
        expect_sort_key: None,
    };
    apply(store, vec![change.clone()]).unwrap();
    let got = store.task(t).unwrap().unwrap();
    let step = &got.steps[1].step;
    assert!(step.in_process);
    assert!(!step.processed);
    assert!(!step.retryable);
    assert_eq!(step.processed_at, Some(at(123_456)));
    assert_eq!(step.attempts, Some(2));
    assert_eq!(step.retry_limit, 7);
    assert_eq!(step.last_attempted_at, Some(at(999_999)));
    assert_eq!(step.backoff_request_seconds, Some(30));
    assert_eq!(step.results.as_deref(), Some(&results));
    assert_eq!(step.updated_at, at(7));
    let Change::StepTransition { meta, .. } = &change else {
        unreachable!()
    };
    assert_eq!(&got.steps[1].transitions[0].meta, meta);
    // Untouched steps and columns stay as they were.
    assert_eq!(got.steps[0], view.steps[0]);
    assert_eq!(step.skippable, view.steps[1].step.skippable);

    // A patch without a transition: clear the backoff, keep everything else.
    apply(
        store,
        vec![Change::PatchStep {
            step_id: s,
            at: at(8),
            patch: StepPatch {
                in_process: Some(false),
                backoff_request_seconds: Some(None),
                ..StepPatch::default()
            },
            expect_sort_key: None,
        }],
    )
    .unwrap();
    let step = store.task(t).unwrap().unwrap().steps[1].step.clone();
    assert!(!step.in_process);
    assert_eq!(step.backoff_request_seconds, None);
    assert_eq!(step.attempts, Some(2));
    assert_eq!(step.results.as_deref(), Some(&results));
    assert_eq!(step.updated_at, at(8));
    assert_eq!(
        store.task(t).unwrap().unwrap().steps[1].transitions.len(),
        1
    );
}

fn unfinished_tasks_are_pending_and_in_progress_oldest_first(db: &Db) {
    let store = db.open();
    let store = store.as_ref();
    let template = template();
    store.register_template(&template).unwrap();
    let ids: Vec<TaskId> = (0..4)
        .map(|i| create_task(store, &template, at(i * 10)).task.task_id)
        .collect();
    apply(
        store,
        vec![
            task_move(ids[0], State::Pending, State::InProgress, at(50)),
            task_move(ids[1], State::Pending, State::InProgress, at(50)),
            task_move(ids[1], State::InProgress, State::Complete, at(51)),
            task_move(ids[2], State::Pending, State::Cancelled, at(52)),
        ],
    )
    .unwrap();
    assert_eq!(store.unfinished_tasks().unwrap(), vec![ids[0], ids[3]]);
    apply_one(
        store,
        task_move(ids[0], State::InProgress, State::Error, at(53)),
    );
    assert_eq!(store.unfinished_tasks().unwrap(), vec![ids[3]]);
    apply_one(
        store,
        task_move(ids[0], State::Error, State::Pending, at(54)),
    );
    assert_eq!(store.unfinished_tasks().unwrap(), vec![ids[0], ids[3]]);
}

/// A scenario of batches, some refused, applied to the store under test and to a
/// `MemoryStore` with the same ids: every outcome and every view must be equal.
fn the_same_batches_give_what_memory_gives(db: &Db) {
    let store = db.open();
    let store = store.as_ref();
    let reference = MemoryStore::new();
    let template = template();
    store.register_template(&template).unwrap();
    let a = new_task(store, &template, at(0));
    let b = new_task(store, &template, at(1));
    let (ta, tb) = (a.task.task_id, b.task.task_id);
    let sa: Vec<StepId> = a.steps.iter().map(|s| s.step_id).collect();
    let sb: Vec<StepId> = b.steps.iter().map(|s| s.step_id).collect();
    let done = |n: i64| StepPatch {
        in_process: Some(false),
        processed: Some(true),
        processed_at: Some(at(n)),
        results: Some(Arc::new(json!({"n": n}))),
        ..StepPatch::default()
    };
    let with_patch = |mut c: Change, p: StepPatch| {
        if let Change::StepTransition { patch, .. } = &mut c {
            *patch = p;
        }
        c
    };
    let batches: Vec<Vec<Change>> = vec![
        // Group commit: creation, start and progress of two tasks in one batch.
        vec![
            Change::CreateTask(Box::new(a.clone())),
            task_move(ta, State::Pending, State::InProgress, at(2)),
            Change::CreateTask(Box::new(b.clone())),
            step_move(ta, sa[0], State::Pending, State::InProgress, at(3)),
            Change::PatchStep {
                step_id: sa[0],
                at: at(3),
                patch: StepPatch {
                    in_process: Some(true),
                    ..StepPatch::default()
                },
                expect_sort_key: Some(1),
            },
        ],
        vec![
            with_patch(
                step_move(ta, sa[0], State::InProgress, State::Complete, at(4)),
                done(4),
            ),
            step_move(ta, sa[1], State::Pending, State::InProgress, at(4)),
            task_move(tb, State::Pending, State::InProgress, at(4)),
        ],
        // Refused in the middle: nothing of it may show.
        vec![
            step_move(ta, sa[1], State::InProgress, State::Error, at(5)),
            step_move(tb, sb[0], State::Pending, State::InProgress, at(5)),
            step_move(ta, sa[0], State::Complete, State::Pending, at(5)),
        ],
        vec![expecting(
            step_move(ta, sa[1], State::InProgress, State::Error, at(6)),
            0,
        )],
        vec![
            with_patch(
                step_move(ta, sa[1], State::InProgress, State::Error, at(6)),
                StepPatch {
                    attempts: Some(1),
                    last_attempted_at: Some(at(6)),
                    in_process: Some(false),
                    backoff_request_seconds: Some(Some(2)),
                    ..StepPatch::default()
                },
            ),
            step_move(ta, sa[1], State::Error, State::Pending, at(7)),
            Change::PatchStep {
                step_id: sa[1],
                at: at(7),
                patch: StepPatch {
                    backoff_request_seconds: Some(None),
                    ..StepPatch::default()
                },
                expect_sort_key: Some(3),
            },
            step_move(ta, sa[1], State::Pending, State::InProgress, at(8)),
            with_patch(
                step_move(ta, sa[1], State::InProgress, State::Complete, at(9)),
                done(9),
            ),
            step_move(ta, sa[2], State::Pending, State::InProgress, at(9)),
        ],
        vec![
            with_patch(
                step_move(ta, sa[2], State::InProgress, State::Complete, at(10)),
                done(10),
            ),
            task_move(ta, State::InProgress, State::Complete, at(10)),
            step_move(tb, sb[0], State::Pending, State::Cancelled, at(10)),
            step_move(tb, sb[1], State::Pending, State::Cancelled, at(10)),
            step_move(tb, sb[2], State::Pending, State::Cancelled, at(10)),
            task_move(tb, State::InProgress, State::Cancelled, at(10)),
        ],
        // After a task finished (its cached heads dropped): still checked.
        vec![step_move(
            ta,
            sa[2],
            State::Complete,
            State::Pending,
            at(11),
        )],
        vec![task_move(ta, State::Complete, State::Cancelled, at(12))],
    ];
    for (i, batch) in batches.into_iter().enumerate() {
        let expected = reference.apply_now(&batch);
        let got = apply(store, batch);
        assert_eq!(got, expected, "batch {i}");
        assert_eq!(
            store.task(ta).unwrap(),
            reference.task(ta).unwrap(),
            "task a after batch {i}"
        );
        assert_eq!(
            store.task(tb).unwrap(),
            reference.task(tb).unwrap(),
            "task b after batch {i}"
        );
        assert_eq!(
            store.task_state(ta).unwrap(),
            reference.task_state(ta).unwrap()
        );
        assert_eq!(
            store.unfinished_tasks().unwrap(),
            reference.unfinished_tasks().unwrap()
        );
    }
}

fn reopening_shows_the_same_data_and_allocates_fresh_ids(db: &Db) {
    let template = template();
    let (first_ids, view) = {
        let (store, _, t, s) = store_with_step(db, 0);
        apply_one(
            store.as_ref(),
            step_move(t, s, State::Pending, State::InProgress, at(1)),
        );
        let ids = store.allocate_ids(3).unwrap();
        (ids, store.task(t).unwrap().unwrap())
    };
    let before = db.snapshot();
    let store = db.open();
    // Opening again (migrations run again) changes no table and no row.
    assert_eq!(
        db.snapshot(),
        before,
        "opening a second time changed the database"
    );
    store.register_template(&template).unwrap();
    assert_eq!(
        db.snapshot(),
        before,
        "registering the same template again changed the database"
    );
    assert_eq!(store.task(view.task.task_id).unwrap().as_ref(), Some(&view));
    assert_eq!(store.unfinished_tasks().unwrap(), vec![view.task.task_id]);

    let (task, steps) = store.allocate_ids(3).unwrap();
    let mut used: Vec<i64> = view.steps.iter().map(|s| s.step.step_id.0).collect();
    used.extend(first_ids.1.iter().map(|s| s.0));
    assert!(
        task != view.task.task_id && task != first_ids.0,
        "task id {task} reused"
    );
    assert!(
        steps.iter().all(|s| !used.contains(&s.0)),
        "step ids reused: {steps:?} vs {used:?}"
    );
    // A task created after reopening is written and read back like any other.
    let new = new_task_with_ids(&template, task, &steps, at(20));
    apply_one(store.as_ref(), Change::CreateTask(Box::new(new.clone())));
    assert_eq!(store.task(task).unwrap().unwrap().task, new.task);
    // The earlier task's history continues where it was.
    let s = view.steps[0].step.step_id;
    apply(
        store.as_ref(),
        vec![expecting(
            step_move(
                view.task.task_id,
                s,
                State::InProgress,
                State::Complete,
                at(21),
            ),
            1,
        )],
    )
    .unwrap();
}

// ---- What only the SQL stores do ----

#[test]
fn open_store_picks_the_backend_from_the_url_and_redacts_passwords() {
    let err = open_store("mysql://app:hunter2@db.example/prod")
        .err()
        .expect("refused");
    assert!(matches!(err, TaskerError::Validation { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("mysql://app:***@db.example/prod"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(open_store("").is_err());

    let store = open_store("sqlite::memory:").expect("in-memory SQLite");
    assert_eq!(store.describe(), "sqlite::memory:");
    let template = template();
    store.register_template(&template).unwrap();
    let id = create_task(store.as_ref(), &template, at(0)).task.task_id;
    assert_eq!(store.task_state(id).unwrap(), Some(State::Pending));
    // Two in-memory stores are two databases.
    let other = open_store("sqlite::memory:").unwrap();
    assert_eq!(other.task_state(id).unwrap(), None);

    if pg_available() {
        let base = pg_url();
        let rest = base.split_once("://").map_or(base.as_str(), |(_, r)| r);
        let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        let url = format!("postgres://tasker_no_such_role:s3cret@{host}");
        let err = open_store(&url)
            .err()
            .expect("a wrong password or user is refused");
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }
}

/// SQL stores keep named rows: a task of a template they were not told about is refused.
fn an_unregistered_template_is_refused(store: &dyn Store) {
    let template = template();
    let new = new_task(store, &template, at(0));
    let id = new.task.task_id;
    let err = refused(store, vec![Change::CreateTask(Box::new(new))]);
    assert!(matches!(err, TaskerError::Database(_)), "{err}");
    assert!(
        err.to_string()
            .contains("template tests/conformance@1.0.0 is not registered"),
        "{err}"
    );
    assert_eq!(store.task(id).unwrap(), None);
}

#[test]
fn sqlite_refuses_a_task_of_an_unregistered_template() {
    let db = Db::sqlite("unregistered");
    an_unregistered_template_is_refused(db.open().as_ref());
}

#[test]
fn postgres_refuses_a_task_of_an_unregistered_template() {
    if let Some(db) = Db::postgres("unregistered") {
        an_unregistered_template_is_refused(db.open().as_ref());
    }
}

#[test]
fn sqlite_registers_tasker_rows_once() {
    let file = SqliteFile::new("named_rows");
    let store = open_store(&file.url()).unwrap();
    store.register_template(&template()).unwrap();
    store.register_template(&template()).unwrap();
    drop(store);
    let rows: Vec<String> = run(async {
        use sqlx::{ConnectOptions, Connection};
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&file.path)
            .connect()
            .await
            .unwrap();
        let rows = sqlx::query_scalar(
            "SELECT ns.name || '/' || nt.name || '@' || nt.version || ' ' || st.name || ' ' || \
                    ds.name || ' ' || nn.skippable || nn.default_retryable || nn.default_retry_limit \
             FROM tasker_named_tasks nt \
             JOIN tasker_task_namespaces ns ON ns.task_namespace_id = nt.task_namespace_id \
             JOIN tasker_named_tasks_named_steps nn ON nn.named_task_id = nt.named_task_id \
             JOIN tasker_named_steps st ON st.named_step_id = nn.named_step_id \
             JOIN tasker_dependent_systems ds ON ds.dependent_system_id = st.dependent_system_id \
             ORDER BY nn.id",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        rows
    });
    assert_eq!(
        rows,
        vec![
            "tests/conformance@1.0.0 fetch default 013",
            "tests/conformance@1.0.0 charge payments 015",
            "tests/conformance@1.0.0 ship default 113",
        ]
    );
}

/// Allocates ids `rounds` times, two in three from `b`, and checks that no task or step id
/// is handed out twice and that a task's step ids increase.
fn allocate_without_collisions(a: &dyn Store, b: &dyn Store, rounds: u32) {
    let mut tasks = std::collections::HashSet::new();
    let mut steps = std::collections::HashSet::new();
    for i in 0..rounds {
        let store = if i % 3 == 0 { a } else { b };
        let (t, s) = store.allocate_ids(1 + i % 4).unwrap();
        assert!(tasks.insert(t), "task id {t} handed out twice");
        assert!(
            s.windows(2).all(|w| w[0] < w[1]),
            "a task's step ids increase: {s:?}"
        );
        for id in s {
            assert!(steps.insert(id), "step id {id} handed out twice");
        }
    }
}

#[test]
fn sqlite_ids_never_collide_across_stores_on_one_file() {
    let file = SqliteFile::new("ids");
    let a = open_store(&file.url()).unwrap();
    let b = open_store(&file.url()).unwrap();
    allocate_without_collisions(a.as_ref(), b.as_ref(), 2500);
}

/// A PostgreSQL store on a fresh schema with the suite's template registered; `None` without
/// PostgreSQL. Bound in this order, the store is dropped before its schema.
fn pg_store(tag: &str) -> Option<(PgSchema, PostgresStore, TaskTemplate)> {
    let schema = PgSchema::new(tag)?;
    let store = PostgresStore::open(&schema.url()).unwrap();
    let template = template();
    store.register_template(&template).unwrap();
    Some((schema, store, template))
}

/// Two stores on one fresh PostgreSQL schema, as two processes would open it; `None`
/// without PostgreSQL; the suite's template is registered through the first. Bound in this
/// order, the stores are dropped before their schema.
fn two_pg_stores(tag: &str) -> Option<(PgSchema, PostgresStore, PostgresStore, TaskTemplate)> {
    let schema = PgSchema::new(tag)?;
    let a = PostgresStore::open(&schema.url()).unwrap();
    let b = PostgresStore::open(&schema.url()).unwrap();
    let template = template();
    a.register_template(&template).unwrap();
    Some((schema, a, b, template))
}

#[test]
fn postgres_two_stores_never_collide_on_ids() {
    let Some((_schema, a, b, template)) = two_pg_stores("ids") else {
        return;
    };
    b.register_template(&template).unwrap();
    allocate_without_collisions(&a, &b, 1500);
    // Both write tasks into the same tables.
    for store in [&a as &dyn Store, &b] {
        let id = create_task(store, &template, at(0)).task.task_id;
        assert_eq!(a.task_state(id).unwrap(), Some(State::Pending));
        assert_eq!(b.task_state(id).unwrap(), Some(State::Pending));
    }
}

#[test]
fn postgres_claims_let_one_store_own_a_task_until_it_is_dropped() {
    let Some((_schema, a, b, template)) = two_pg_stores("claims") else {
        return;
    };
    // A task created by `a` is claimed by the batch that creates it.
    let t1 = create_task(&a, &template, at(0)).task.task_id;
    assert_eq!(b.claim_tasks(&[t1]).unwrap(), vec![]);
    assert_eq!(a.claim_tasks(&[t1]).unwrap(), vec![t1]);
    // A finished task is released.
    let t2 = create_task(&a, &template, at(1)).task.task_id;
    assert_eq!(b.claim_tasks(&[t1, t2]).unwrap(), vec![]);
    apply(
        &a,
        vec![
            task_move(t2, State::Pending, State::InProgress, at(2)),
            task_move(t2, State::InProgress, State::Complete, at(3)),
        ],
    )
    .unwrap();
    assert_eq!(b.claim_tasks(&[t1, t2]).unwrap(), vec![t2]);
    assert_eq!(a.claim_tasks(&[t2]).unwrap(), vec![]);
    // Claiming again what one holds answers yes, without taking the lock twice.
    assert_eq!(b.claim_tasks(&[t2, t2]).unwrap(), vec![t2, t2]);
    // `a` goes away (as a process that dies): its tasks can be claimed at once.
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = b.claim_tasks(&[t1]).unwrap();
        if got == vec![t1] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "task {t1} still owned after its store was dropped"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn postgres_a_stale_cache_is_caught_by_the_database() {
    let Some((_schema, a, b, template)) = two_pg_stores("stale") else {
        return;
    };
    let new = create_task(&a, &template, at(0));
    let t = new.task.task_id;
    let s = new.steps[0].step_id;
    let s1 = new.steps[1].step_id;
    apply_one(
        &a,
        step_move(t, s, State::Pending, State::InProgress, at(1)),
    );
    // `b` moves the step behind `a`'s back; `a`'s cache still says in_progress at 1.
    apply_one(
        &b,
        step_move(t, s, State::InProgress, State::Complete, at(2)),
    );
    apply_one(
        &b,
        step_move(t, s1, State::Pending, State::InProgress, at(2)),
    );
    let err = refused(
        &a,
        vec![step_move(t, s, State::InProgress, State::Error, at(3))],
    );
    assert!(matches!(err, TaskerError::InvalidState { .. }), "{err}");
    assert!(
        err.to_string().contains("is complete, not in_progress"),
        "{err}"
    );
    // A step `a` cached as never moved: the database refuses a second first transition.
    let err = refused(
        &a,
        vec![step_move(t, s1, State::Pending, State::InProgress, at(3))],
    );
    assert!(
        err.to_string().contains("is in_progress, not pending"),
        "{err}"
    );
    // With the truth read back, `a` goes on.
    apply_one(
        &a,
        step_move(t, s1, State::InProgress, State::Complete, at(4)),
    );
    let view = b.task(t).unwrap().unwrap();
    assert_eq!(view.steps[0].state, State::Complete);
    assert_eq!(view.steps[0].transitions.len(), 2);
    assert_eq!(view.steps[1].state, State::Complete);
}

#[test]
fn postgres_a_dropped_store_closes_its_connections() {
    let Some(schema) = PgSchema::new("connections") else {
        return;
    };
    let name = schema.name.clone();
    let url = format!("{}&application_name={name}", schema.url());
    let count = || {
        schema.texts(&format!(
            "SELECT COUNT(*)::text FROM pg_stat_activity WHERE application_name = '{name}'"
        ))[0]
            .parse::<u32>()
            .unwrap()
    };
    for _ in 0..3 {
        let store = PostgresStore::open(&url).unwrap();
        store.register_template(&template()).unwrap();
        create_task(&store, &template(), at(0));
        assert!(count() >= 2, "a pool connection and the lock connection");
        drop(store);
        let deadline = Instant::now() + Duration::from_secs(5);
        while count() > 0 {
            assert!(
                Instant::now() < deadline,
                "{} connections left open",
                count()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A task built from a template, then the template registered again under the same key with
/// a step renamed (a deploy while the task waits for its group commit): the task's batch
/// still commits and reads back with its own steps, and a task of the new version commits
/// too. (The SQL stores once looked the old step up in the new registration only and
/// refused the batch, losing the task and every other task in it.)
fn a_task_of_a_template_registered_again_with_other_steps_still_commits(db: &Db) {
    let store = db.open();
    let store = store.as_ref();
    let first = template();
    store.register_template(&first).unwrap();
    let old = new_task(store, &first, at(0));
    let renamed = tasker_model::TaskTemplate::from_yaml(
        &TEMPLATE_YAML
            .replace("name: ship", "name: deliver")
            .replace("[fetch, charge]", "[charge, fetch]"),
        "conformance_v2.yaml",
    )
    .unwrap();
    store.register_template(&renamed).unwrap();
    let old_id = old.task.task_id;
    apply(store, vec![Change::CreateTask(Box::new(old))]).expect("the older task commits");
    assert_eq!(step_names(store, old_id), ["fetch", "charge", "ship"]);
    let new_id = create_task(store, &renamed, at(1)).task.task_id;
    assert_eq!(step_names(store, new_id), ["fetch", "charge", "deliver"]);
}

/// The names of a stored task's steps, in template order.
fn step_names(store: &dyn Store, id: TaskId) -> Vec<String> {
    let view = store.task(id).unwrap().expect("the task is stored");
    view.steps.iter().map(|s| s.step.name.to_string()).collect()
}

/// The background count (engine start) answers what `health_counts` answers.
fn health_counted_in_background_is_a_count_of_then(db: &Db) {
    let (store, view) = store_with_task(db);
    apply(
        store.as_ref(),
        vec![task_move(
            view.task.task_id,
            State::Pending,
            State::InProgress,
            at(5),
        )],
    )
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    store
        .count_health_in_background(at(6), Box::new(move |c| tx.send(c).unwrap()))
        .unwrap();
    let counts = delivered(&rx).expect("counted before the store closed");
    let then = store.health_counts(at(6)).unwrap();
    assert_eq!(counts.tasks_by_state(), then.tasks_by_state());
    assert_eq!(counts.steps_by_state(), then.steps_by_state());
    assert_eq!(counts.in_backoff_steps, then.in_backoff_steps);
    assert_eq!(counts.tasks_by_state(), [0, 1, 0, 0, 0, 0]);
}

/// What `count_health_in_background` delivered, waited for.
fn delivered(rx: &Counted) -> Option<HealthCounts> {
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the counts are delivered")
        .expect("the count succeeds")
}

/// Where a count started in the background on `store` arrives.
type Counted = std::sync::mpsc::Receiver<TaskerResult<Option<HealthCounts>>>;

/// Starts a background count on `store` while a side connection holds `tasker_tasks`
/// locked, so the count waits behind the lock until the returned transaction ends.
async fn count_behind_a_lock(
    store: &PostgresStore,
    url: &str,
) -> (sqlx::Transaction<'static, sqlx::Postgres>, Counted) {
    let side = sqlx::PgPool::connect(url).await.unwrap();
    let mut locked = side.begin().await.unwrap();
    sqlx::query("LOCK TABLE tasker_tasks IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *locked)
        .await
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    store
        .count_health_in_background(at(1), Box::new(move |c| tx.send(c).unwrap()))
        .unwrap();
    (locked, rx)
}

/// A count in the background reads one snapshot, taken before the count's first table: a
/// side connection holds `tasker_tasks` locked so the count waits behind it, moves the
/// stored task to in_progress and commits; the count then reads on and must still see the
/// task pending (a count reading each table as it finds it would see the move). That the
/// snapshot is taken before `count_health_in_background` returns is what lets an engine
/// add its own commits to the count: `crates/engine/tests/start_health.rs`.
#[test]
fn postgres_health_counted_in_background_reads_one_snapshot() {
    let Some((schema, store, template)) = pg_store("health_snapshot") else {
        return;
    };
    let task = create_task(&store, &template, at(0)).task.task_id;
    let counted = run(async {
        let (mut locked, counted) = count_behind_a_lock(&store, &schema.url()).await;
        sqlx::query(
            "INSERT INTO tasker_task_transitions \
               (task_id, to_state, from_state, sort_key, most_recent, metadata, created_at, updated_at) \
             VALUES ($1, 'in_progress', 'pending', 1, true, '{}', now(), now())",
        )
        .bind(task.0)
        .execute(&mut *locked)
        .await
        .unwrap();
        locked.commit().await.unwrap();
        counted
    });
    let counts = delivered(&counted).expect("counted before the store closed");
    assert_eq!(counts.tasks_by_state(), [1, 0, 0, 0, 0, 0]);
    let now = store.health_counts(at(2)).unwrap();
    assert_eq!(now.tasks_by_state(), [0, 1, 0, 0, 0, 0]);
}

/// Closing the store while a background count waits (behind a lock here) ends the count and
/// delivers "not counted", so a health reading waiting for it is let through.
#[test]
fn postgres_closing_ends_a_background_count_unfinished() {
    let Some((schema, store, _)) = pg_store("health_close") else {
        return;
    };
    run(async {
        let (locked, counted) = count_behind_a_lock(&store, &schema.url()).await;
        store.close();
        assert!(delivered(&counted).is_none(), "nothing counted");
        locked.rollback().await.unwrap();
    });
}

#[test]
fn postgres_installs_the_optional_readiness_function() {
    let Some(schema) = PgSchema::new("readiness") else {
        return;
    };
    let store = PostgresStore::open(&schema.url()).unwrap();
    assert!(schema
        .texts("SELECT proname::text FROM pg_proc WHERE proname = 'tasker_core_step_readiness' AND pronamespace = current_schema()::regnamespace")
        .is_empty());
    store.install_readiness_function().unwrap();
    assert_eq!(
        schema.texts("SELECT proname::text FROM pg_proc WHERE proname = 'tasker_core_step_readiness' AND pronamespace = current_schema()::regnamespace"),
        vec!["tasker_core_step_readiness"]
    );
}

// ---- Throughput ----

#[test]
#[ignore = "a measurement: run with --ignored --nocapture, preferably --release"]
fn throughput_of_batches_of_10000_step_transitions() {
    bench::measure("memory", &MemoryStore::new());
    let file = SqliteFile::new("bench");
    bench::measure("sqlite", open_store(&file.url()).unwrap().as_ref());
    if let Some(schema) = PgSchema::new("bench") {
        bench::measure("postgres", open_store(&schema.url()).unwrap().as_ref());
    }
}
