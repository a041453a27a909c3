//! [`MemoryStore::purge_now`]: retention in the in-process store (see [`crate::retention`]).
//!
//! The in-process store keeps everything in its maps, so without retention a process that
//! runs work forever grows forever (about 1.4 GB of RSS after 1,000,000 steps). The store
//! keeps the tasks retention may delete ordered by when they got there
//! ([`Tables::note_finish`], on every task transition), so a purge reads the oldest `limit`
//! of them instead of scanning every task, and removes them under the write lock, which then
//! hands back the maps' spare room once they are mostly empty.

use super::{current, MemoryStore, Tables};
use crate::retention::{expires, Purged};
use tasker_model::{State, TaskId, TaskerResult, Timestamp};

/// A map keeps its largest size's room after entries leave; past this many spare slots per
/// entry kept it is shrunk, so the memory follows what is retained, not the peak.
const SPARE_PER_ENTRY: usize = 4;
/// Maps smaller than this are never shrunk (not worth a reallocation).
const SHRINK_FLOOR: usize = 4096;

impl MemoryStore {
    /// See [`Store::purge_finished`](crate::Store::purge_finished).
    pub fn purge_now(&self, before: Timestamp, limit: usize) -> TaskerResult<Purged> {
        let mut tables = self.tables.write();
        let expired = oldest(&tables, before, limit);
        Ok(remove_expired(&mut tables, expired))
    }

    /// See [`Store::expired_finished`](crate::Store::expired_finished).
    pub fn expired_now(&self, before: Timestamp, limit: usize) -> Vec<TaskId> {
        let tables = self.tables.read();
        oldest(&tables, before, limit)
            .into_iter()
            .map(|(_, id)| id)
            .collect()
    }

    /// See [`Store::purge_expired`](crate::Store::purge_expired).
    pub fn purge_among(&self, before: Timestamp, ids: &[TaskId]) -> Purged {
        let mut tables = self.tables.write();
        let expired = ids
            .iter()
            .filter_map(|id| {
                let last = tables.tasks.get(id)?.transitions.last()?;
                (expires(last.to_state) && last.created_at < before)
                    .then_some((last.created_at, *id))
            })
            .collect();
        remove_expired(&mut tables, expired)
    }
}

/// The oldest `limit` tasks finished before `before`, with when they finished.
fn oldest(tables: &Tables, before: Timestamp, limit: usize) -> Vec<(Timestamp, TaskId)> {
    tables
        .finished
        .range(..(before, TaskId(i64::MIN)))
        .take(limit)
        .copied()
        .collect()
}

fn remove_expired(tables: &mut Tables, expired: Vec<(Timestamp, TaskId)>) -> Purged {
    let mut purged = Purged::default();
    for entry in expired {
        tables.finished.remove(&entry);
        remove_task(tables, entry.1, &mut purged);
    }
    if !tables.identities.is_empty() && !purged.tasks.is_empty() {
        // A deleted task's identity is free again, as its row's unique index entry is on
        // the SQL stores. One pass a batch: the identities are those of retained tasks.
        let gone: std::collections::HashSet<TaskId> = purged.tasks.iter().copied().collect();
        tables.identities.retain(|_, task| !gone.contains(task));
    }
    shrink(tables);
    purged
}

impl Tables {
    /// Keeps `finished` in step with a task transition from `before` (the task's state and
    /// its time, if it had a transition) to `after`: a task that reaches a state retention
    /// may delete enters it at that time; one that moves on (complete -> cancelled) moves.
    pub(super) fn note_finish(
        &mut self,
        task: TaskId,
        before: Option<(State, Timestamp)>,
        after: (State, Timestamp),
    ) {
        if let Some((state, at)) = before {
            if expires(state) {
                self.finished.remove(&(at, task));
            }
        }
        if expires(after.0) {
            self.finished.insert((after.1, task));
        }
    }
}

fn remove_task(tables: &mut Tables, id: TaskId, purged: &mut Purged) {
    let Some(row) = tables.tasks.remove(&id) else {
        return;
    };
    purged.task_states[current(&row.transitions).index()] += 1;
    purged.tasks.push(id);
    for step_id in row.steps {
        if let Some(step) = tables.steps.remove(&step_id) {
            purged.step_states[current(&step.transitions).index()] += 1;
            purged.steps.push(step_id);
        }
    }
}

fn shrink(tables: &mut Tables) {
    fn shrink_map<K: std::hash::Hash + Eq, V, S: std::hash::BuildHasher>(
        map: &mut std::collections::HashMap<K, V, S>,
    ) {
        if map.capacity() > SHRINK_FLOOR && map.capacity() > SPARE_PER_ENTRY * map.len() {
            map.shrink_to(map.len() * 2);
        }
    }
    shrink_map(&mut tables.tasks);
    shrink_map(&mut tables.steps);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::{Change, StepPatch};
    use crate::records::TransitionMeta;
    use crate::store::Store;
    use crate::test_rows::create_task;
    use tasker_model::State;

    fn task_to(store: &MemoryStore, to: State, at: Timestamp) -> TaskId {
        let (task_id, steps) = store.allocate_ids(2).unwrap();
        let mut batch = vec![create_task(task_id, steps[0], &["a", "b"], at)];
        batch.push(Change::TaskTransition {
            task_id,
            from: Some(State::Pending),
            to: State::InProgress,
            meta: TransitionMeta::engine("test"),
            at,
            complete: None,
            expect_sort_key: None,
        });
        if to != State::InProgress {
            batch.push(Change::TaskTransition {
                task_id,
                from: Some(State::InProgress),
                to,
                meta: TransitionMeta::engine("test"),
                at,
                complete: Some(to == State::Complete),
                expect_sort_key: None,
            });
        }
        store.apply_now(&batch).unwrap();
        task_id
    }

    #[test]
    fn deletes_only_finished_tasks_older_than_the_cutoff_oldest_first() {
        let store = MemoryStore::new();
        let old = Timestamp(1_000_000);
        let new = Timestamp(9_000_000);
        let cutoff = Timestamp(5_000_000);
        let old_complete = task_to(&store, State::Complete, old);
        let old_cancelled = task_to(&store, State::Cancelled, Timestamp(2_000_000));
        let old_error = task_to(&store, State::Error, old);
        let old_running = task_to(&store, State::InProgress, old);
        let new_complete = task_to(&store, State::Complete, new);

        let first = store.purge_now(cutoff, 1).unwrap();
        assert_eq!(first.tasks, vec![old_complete]);
        assert_eq!(first.steps.len(), 2);
        assert_eq!(first.task_states[State::Complete.index()], 1);
        assert_eq!(first.step_states[State::Pending.index()], 2);
        let rest = store.purge_now(cutoff, 10).unwrap();
        assert_eq!(rest.tasks, vec![old_cancelled]);
        assert!(store.purge_now(cutoff, 10).unwrap().is_empty());

        for gone in [old_complete, old_cancelled] {
            assert_eq!(store.task(gone).unwrap(), None);
        }
        for kept in [old_error, old_running, new_complete] {
            assert!(store.task(kept).unwrap().is_some(), "task {kept} kept");
        }
        let tables = store.tables.read();
        assert_eq!(tables.tasks.len(), 3);
        assert_eq!(tables.steps.len(), 6);
        assert_eq!(
            tables.finished.len(),
            1,
            "only the recent complete task is listed"
        );
    }

    #[test]
    fn a_complete_task_cancelled_later_expires_from_its_cancellation() {
        let store = MemoryStore::new();
        let id = task_to(&store, State::Complete, Timestamp(1));
        let cancel = Change::TaskTransition {
            task_id: id,
            from: Some(State::Complete),
            to: State::Cancelled,
            meta: TransitionMeta::engine("test"),
            at: Timestamp(100),
            complete: None,
            expect_sort_key: None,
        };
        store.apply_now(&[cancel]).unwrap();
        assert!(store.purge_now(Timestamp(50), 10).unwrap().is_empty());
        let purged = store.purge_now(Timestamp(101), 10).unwrap();
        assert_eq!(purged.tasks, vec![id]);
        assert_eq!(purged.task_states[State::Cancelled.index()], 1);
        assert!(store.tables.read().finished.is_empty());
    }

    #[test]
    fn a_step_of_a_deleted_task_can_no_longer_be_changed() {
        let store = MemoryStore::new();
        let id = task_to(&store, State::Complete, Timestamp(1));
        let step = store.task(id).unwrap().unwrap().steps[0].step.step_id;
        store.purge_now(Timestamp(2), 10).unwrap();
        let err = store
            .apply_now(&[Change::PatchStep {
                step_id: step,
                at: Timestamp(3),
                patch: StepPatch::default(),
                expect_sort_key: None,
            }])
            .unwrap_err();
        assert!(err.to_string().contains(&format!("step {step}")), "{err}");
    }
}
