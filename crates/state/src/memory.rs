//! The in-process store.
//!
//! Everything lives in maps behind one lock; a batch is checked in full before any of it is
//! applied, so a refused batch leaves no trace. It keeps every task until the engine that
//! owns it is dropped, or until retention deletes it (`retention.rs`): a process that runs
//! work forever on it needs retention on.

mod retention;

use crate::change::Change;
use crate::checks::{check_change, check_sort_key, patch_step, Moving};
use crate::insights::reference::{self, StepRef, TaskRef};
use crate::insights::{
    AnalyticsMetrics, HealthCounts, SlowQuery, SlowestStep, SlowestStepGroup, SlowestTask,
};
use crate::listing::{TaskFilter, TaskListing};
use crate::records::{StepRecord, TaskRecord, TransitionMeta, TransitionRecord};
use crate::retention::Purged;
use crate::store::{Commit, Durability, StepView, Store, TaskView};
use parking_lot::RwLock;
use rustc_hash::FxHashMap as HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use tasker_model::{State, StepId, TaskId, TaskTemplate, TaskerError, TaskerResult, Timestamp};

struct TaskRow {
    record: TaskRecord,
    transitions: Vec<TransitionRecord>,
    steps: Vec<StepId>,
}

struct StepRow {
    record: StepRecord,
    transitions: Vec<TransitionRecord>,
    parents: Vec<StepId>,
}

#[derive(Default)]
struct Tables {
    tasks: HashMap<TaskId, TaskRow>,
    steps: HashMap<StepId, StepRow>,
    /// Tasks retention may delete, by when they got there (`retention.rs`).
    finished: std::collections::BTreeSet<(Timestamp, TaskId)>,
    /// `tasker_tasks.identity_hash` of identified tasks: the unique index's part.
    /// Keyed by text the caller chooses, so std's SipHash (not Fx, which a chosen key can
    /// make collide) like any map keyed from outside.
    identities: std::collections::HashMap<String, TaskId>,
}

/// See the module documentation.
pub struct MemoryStore {
    tables: RwLock<Tables>,
    next_task: AtomicI64,
    next_step: AtomicI64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl MemoryStore {
    /// An empty store; ids start at 1.
    pub fn new() -> MemoryStore {
        MemoryStore {
            tables: RwLock::new(Tables::default()),
            next_task: AtomicI64::new(1),
            next_step: AtomicI64::new(1),
        }
    }
}

fn current(transitions: &[TransitionRecord]) -> State {
    transitions.last().map_or(State::Pending, |t| t.to_state)
}

/// Current state and the sort_key of the most recent transition (0 when none).
fn head(transitions: &[TransitionRecord]) -> (State, i32) {
    (
        current(transitions),
        transitions.last().map_or(0, |t| t.sort_key),
    )
}

fn append(
    transitions: &mut Vec<TransitionRecord>,
    from: Option<State>,
    to: State,
    meta: &TransitionMeta,
    at: Timestamp,
) {
    if let Some(last) = transitions.last_mut() {
        last.most_recent = false;
    }
    transitions.push(TransitionRecord {
        from_state: from,
        to_state: to,
        meta: meta.clone(),
        sort_key: transitions.len() as i32 + 1,
        most_recent: true,
        created_at: at,
    });
}

impl Tables {
    /// Checks every change of `batch` against the current rows and the ones created or moved
    /// earlier in the same batch, without changing anything.
    fn check(&self, batch: &[Change]) -> TaskerResult<()> {
        // (current state, sort_key of the most recent transition) as earlier changes of
        // this batch leave them.
        let mut task_states: HashMap<TaskId, (State, i32)> = HashMap::default();
        let mut step_states: HashMap<StepId, (State, i32)> = HashMap::default();
        for change in batch {
            match change {
                Change::CreateTask(new) => {
                    let id = new.task.task_id;
                    if self.tasks.contains_key(&id) || task_states.contains_key(&id) {
                        return Err(TaskerError::Database(format!("task {id} already exists")));
                    }
                    if let Some(other) = new
                        .identity_hash
                        .as_ref()
                        .and_then(|h| self.identities.get(h))
                    {
                        return Err(TaskerError::Database(format!("task {id}: its identity_hash is task {other}'s (unique index index_tasks_on_identity_hash)")));
                    }
                    task_states.insert(id, (State::Pending, 0));
                    for s in &new.steps {
                        step_states.insert(s.step_id, (State::Pending, 0));
                    }
                }
                Change::TaskTransition {
                    task_id,
                    from,
                    to,
                    expect_sort_key,
                    ..
                } => {
                    let (cur, key) = match task_states.get(task_id) {
                        Some(s) => *s,
                        None => head(
                            &self
                                .tasks
                                .get(task_id)
                                .ok_or_else(|| {
                                    TaskerError::Database(format!("task {task_id} does not exist"))
                                })?
                                .transitions,
                        ),
                    };
                    let task = Moving::Task(*task_id);
                    check_change(task, (cur, key), *from, *to, *expect_sort_key)?;
                    task_states.insert(*task_id, (*to, key + 1));
                }
                Change::StepTransition {
                    step_id,
                    task_id,
                    from,
                    to,
                    expect_sort_key,
                    ..
                } => {
                    let (cur, key) = self.step_head(&step_states, *step_id)?;
                    let step = Moving::Step(*task_id, *step_id);
                    check_change(step, (cur, key), *from, *to, *expect_sort_key)?;
                    step_states.insert(*step_id, (*to, key + 1));
                }
                Change::PatchStep {
                    step_id,
                    expect_sort_key,
                    ..
                } => {
                    let (_, key) = self.step_head(&step_states, *step_id)?;
                    check_sort_key(|| format!("step {step_id}"), key, *expect_sort_key)?;
                }
            }
        }
        Ok(())
    }

    /// A step's (state, latest sort_key), as earlier changes of the batch leave them.
    fn step_head(
        &self,
        in_batch: &HashMap<StepId, (State, i32)>,
        step_id: StepId,
    ) -> TaskerResult<(State, i32)> {
        match in_batch.get(&step_id) {
            Some(s) => Ok(*s),
            None => Ok(head(
                &self
                    .steps
                    .get(&step_id)
                    .ok_or_else(|| TaskerError::Database(format!("step {step_id} does not exist")))?
                    .transitions,
            )),
        }
    }

    fn apply_one(&mut self, change: &Change) {
        match change {
            Change::CreateTask(new) => {
                let mut parents: HashMap<StepId, Vec<StepId>> = HashMap::default();
                for (p, c) in &new.edges {
                    parents.entry(*c).or_default().push(*p);
                }
                if let Some(hash) = &new.identity_hash {
                    self.identities.insert(hash.clone(), new.task.task_id);
                }
                for s in &new.steps {
                    self.steps.insert(
                        s.step_id,
                        StepRow {
                            record: s.clone(),
                            transitions: Vec::new(),
                            parents: parents.remove(&s.step_id).unwrap_or_default(),
                        },
                    );
                }
                self.tasks.insert(
                    new.task.task_id,
                    TaskRow {
                        record: new.task.clone(),
                        transitions: Vec::new(),
                        steps: new.steps.iter().map(|s| s.step_id).collect(),
                    },
                );
            }
            Change::TaskTransition {
                task_id,
                from,
                to,
                meta,
                at,
                complete,
                ..
            } => {
                let row = self.tasks.get_mut(task_id).expect("checked");
                let before = row.transitions.last().map(|t| (t.to_state, t.created_at));
                append(&mut row.transitions, *from, *to, meta, *at);
                if let Some(c) = complete {
                    row.record.complete = *c;
                }
                row.record.updated_at = *at;
                self.note_finish(*task_id, before, (*to, *at));
            }
            Change::StepTransition {
                step_id,
                from,
                to,
                meta,
                at,
                patch,
                ..
            } => {
                let row = self.steps.get_mut(step_id).expect("checked");
                append(&mut row.transitions, *from, *to, meta, *at);
                patch_step(&mut row.record, patch, *at);
            }
            Change::PatchStep {
                step_id, at, patch, ..
            } => {
                let row = self.steps.get_mut(step_id).expect("checked");
                patch_step(&mut row.record, patch, *at);
            }
        }
    }
}

impl Tables {
    /// Every task with its steps, borrowed, for the insights computations.
    fn task_refs(&self) -> Vec<TaskRef<'_>> {
        self.tasks
            .values()
            .map(|row| TaskRef {
                record: &row.record,
                transitions: &row.transitions,
                steps: row
                    .steps
                    .iter()
                    .filter_map(|id| self.steps.get(id))
                    .map(|s| StepRef {
                        record: &s.record,
                        transitions: &s.transitions,
                    })
                    .collect(),
            })
            .collect()
    }
}

impl MemoryStore {
    /// Runs an insights computation over every task, under the read lock.
    fn insight<R>(&self, f: impl FnOnce(&[TaskRef<'_>]) -> R) -> TaskerResult<R> {
        let tables = self.tables.read();
        Ok(f(&tables.task_refs()))
    }

    /// Applies a batch at once (the in-memory store needs no runtime).
    pub fn apply_now(&self, batch: &[Change]) -> TaskerResult<()> {
        let mut tables = self.tables.write();
        tables.check(batch)?;
        for change in batch {
            tables.apply_one(change);
        }
        Ok(())
    }
}

impl Store for MemoryStore {
    fn apply(&self, batch: Vec<Change>, _durability: Durability) -> Commit {
        let result = self.apply_now(&batch);
        Box::pin(std::future::ready(result))
    }

    fn register_template(&self, _template: &TaskTemplate) -> TaskerResult<()> {
        Ok(())
    }

    fn allocate_ids(&self, steps: u32) -> TaskerResult<(TaskId, Vec<StepId>)> {
        let task = self.next_task.fetch_add(1, Ordering::Relaxed);
        let first = self
            .next_step
            .fetch_add(i64::from(steps), Ordering::Relaxed);
        Ok((
            TaskId(task),
            (0..i64::from(steps)).map(|i| StepId(first + i)).collect(),
        ))
    }

    fn task_with_identity(&self, identity_hash: &str) -> TaskerResult<Option<TaskId>> {
        Ok(self.tables.read().identities.get(identity_hash).copied())
    }

    fn unfinished_tasks(&self) -> TaskerResult<Vec<TaskId>> {
        let tables = self.tables.read();
        let mut ids: Vec<TaskId> = tables
            .tasks
            .iter()
            .filter(|(_, row)| {
                matches!(
                    current(&row.transitions),
                    State::Pending | State::InProgress
                )
            })
            .map(|(id, _)| *id)
            .collect();
        ids.sort();
        Ok(ids)
    }

    fn task(&self, id: TaskId) -> TaskerResult<Option<TaskView>> {
        let tables = self.tables.read();
        let Some(row) = tables.tasks.get(&id) else {
            return Ok(None);
        };
        let steps = row
            .steps
            .iter()
            .filter_map(|sid| tables.steps.get(sid))
            .map(|s| StepView {
                step: s.record.clone(),
                state: current(&s.transitions),
                transitions: s.transitions.clone(),
                parents: s.parents.clone(),
            })
            .collect();
        Ok(Some(TaskView {
            task: row.record.clone(),
            state: current(&row.transitions),
            transitions: row.transitions.clone(),
            steps,
        }))
    }

    fn task_state(&self, id: TaskId) -> TaskerResult<Option<State>> {
        Ok(self
            .tables
            .read()
            .tasks
            .get(&id)
            .map(|r| current(&r.transitions)))
    }

    fn health_counts(&self, now: Timestamp) -> TaskerResult<HealthCounts> {
        self.insight(|tasks| reference::health_counts(tasks, now))
    }

    fn analytics_metrics(
        &self,
        since: Timestamp,
        now: Timestamp,
    ) -> TaskerResult<AnalyticsMetrics> {
        self.insight(|tasks| reference::analytics_totals(tasks, since, now).metrics(since, now))
    }

    fn slowest_steps(&self, query: &SlowQuery) -> TaskerResult<Vec<SlowestStep>> {
        self.insight(|tasks| reference::slowest_steps(tasks, query))
    }

    fn slowest_step_groups(&self, query: &SlowQuery) -> TaskerResult<Vec<SlowestStepGroup>> {
        self.insight(|tasks| reference::slowest_step_groups(tasks, query))
    }

    fn slowest_tasks(&self, query: &SlowQuery) -> TaskerResult<Vec<SlowestTask>> {
        self.insight(|tasks| reference::slowest_tasks(tasks, query))
    }

    fn purge_finished(&self, before: Timestamp, limit: usize) -> TaskerResult<Purged> {
        self.purge_now(before, limit)
    }

    fn list_tasks(&self, filter: &TaskFilter) -> TaskerResult<Vec<TaskListing>> {
        // Every task looked at: the in-process store holds what one process ran, and has
        // no index to walk.
        let tables = self.tables.read();
        let mut rows: Vec<TaskListing> = tables
            .tasks
            .values()
            .map(|row| {
                let last = row.transitions.last();
                let key = &row.record.template;
                TaskListing {
                    task_id: row.record.task_id,
                    namespace: key.namespace.clone(),
                    name: key.name.clone(),
                    version: key.version.clone(),
                    state: current(&row.transitions),
                    created_at: row.record.created_at,
                    state_since: last.map_or(row.record.created_at, |t| t.created_at),
                }
            })
            .filter(|row| filter.admits(row))
            .collect();
        rows.sort_unstable_by_key(|r| std::cmp::Reverse(r.task_id));
        rows.truncate(filter.limit);
        Ok(rows)
    }

    fn task_of_step(&self, step: StepId) -> TaskerResult<Option<TaskId>> {
        Ok(self
            .tables
            .read()
            .steps
            .get(&step)
            .map(|s| s.record.task_id))
    }

    fn expired_finished(&self, before: Timestamp, limit: usize) -> TaskerResult<Vec<TaskId>> {
        Ok(self.expired_now(before, limit))
    }

    fn purge_expired(&self, before: Timestamp, ids: &[TaskId]) -> TaskerResult<Purged> {
        Ok(self.purge_among(before, ids))
    }

    fn describe(&self) -> String {
        "memory".to_string()
    }
}

#[cfg(test)]
mod tests;
