//! The in-memory store's own rules: history appended with one most recent row, stale
//! writes refused whole.

use super::*;
use crate::change::StepPatch;
use crate::test_rows::create_task;

fn new_task(store: &MemoryStore) -> (TaskId, StepId) {
    let (task_id, step_ids) = store.allocate_ids(2).unwrap();
    let create = create_task(task_id, step_ids[0], &["s0", "s1"], Timestamp::now());
    store.apply_now(&[create]).unwrap();
    (task_id, step_ids[0])
}

fn step_move(task_id: TaskId, step_id: StepId, from: State, to: State) -> Change {
    Change::StepTransition {
        task_id,
        step_id,
        from: Some(from),
        to,
        meta: TransitionMeta::engine("test"),
        at: Timestamp::now(),
        patch: StepPatch::default(),
        expect_sort_key: None,
    }
}

#[test]
fn history_is_appended_with_one_most_recent_and_rising_sort_keys() {
    let store = MemoryStore::new();
    let (t, s) = new_task(&store);
    // One move a batch, so each appends to a committed history.
    for (from, to) in [
        (State::Pending, State::InProgress),
        (State::InProgress, State::Error),
        (State::Error, State::Pending),
    ] {
        store.apply_now(&[step_move(t, s, from, to)]).unwrap();
    }
    let view = store.task(t).unwrap().unwrap();
    let h = &view.steps[0].transitions;
    assert_eq!(
        h.iter().map(|r| r.sort_key).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(h.iter().filter(|r| r.most_recent).count(), 1);
    assert!(h.last().unwrap().most_recent);
    assert_eq!(view.steps[0].state, State::Pending);
    assert_eq!(view.steps[1].parents, vec![s]);
}

#[test]
fn a_stale_sort_key_is_a_concurrent_modification_and_writes_nothing() {
    let store = MemoryStore::new();
    let (t, s) = new_task(&store);
    store
        .apply_now(&[step_move(t, s, State::Pending, State::InProgress)])
        .unwrap();
    let before = store.task(t).unwrap();
    let expecting = |key: i32| step_move(t, s, State::InProgress, State::Error).expecting(key);
    let stale = expecting(0);
    let err = store.apply_now(&[stale]).unwrap_err();
    assert!(
        matches!(err, TaskerError::ConcurrentModification { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("sort_key 1, not 0"), "{err}");
    assert_eq!(store.task(t).unwrap(), before);
    store.apply_now(&[expecting(1)]).unwrap();
}

#[test]
fn a_refused_transition_fails_the_whole_batch_and_writes_nothing() {
    let store = MemoryStore::new();
    let (t, s) = new_task(&store);
    let before = store.task(t).unwrap();
    let err = store
        .apply_now(&[
            step_move(t, s, State::Pending, State::InProgress),
            step_move(t, s, State::InProgress, State::Pending),
        ])
        .unwrap_err();
    assert!(matches!(err, TaskerError::StateTransition { .. }), "{err}");
    assert_eq!(store.task(t).unwrap(), before);
    let err = store
        .apply_now(&[step_move(t, s, State::Error, State::Pending)])
        .unwrap_err();
    assert!(err.to_string().contains("is pending, not error"), "{err}");
}
