//! How one batch of changes moves the live counters: read before the commit
//! ([`LiveHealth::prepare`]), applied after it ([`LiveHealth::apply`]), so a refused batch
//! moves nothing. It owns the per-step facts the retryable/exhausted split needs and keeps
//! them only for unfinished tasks' steps and steps in error; it must not read the store.

use super::LiveHealth;
// Keyed by the engine's integer ids, on every commit of every store: no SipHash.
use rustc_hash::FxHashMap as HashMap;
use std::sync::atomic::Ordering;
use tasker_model::{State, StepId, TaskId};
use tasker_state::{Change, StepPatch};

/// Retry limit assumed for a step this process never saw created (TASKER.md's default).
const DEFAULT_RETRY_LIMIT: u32 = 3;

/// How a step in error counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ErrorKind {
    Retryable,
    Exhausted,
    /// Not retryable (a permanent failure) with attempts left: neither.
    Neither,
}

/// What classifying an error step needs.
#[derive(Debug, Clone, Copy)]
pub(super) struct StepFacts {
    task: TaskId,
    retry_limit: u32,
    retryable: bool,
    attempts: u32,
    /// Set while the step is in error.
    pub(super) error: Option<ErrorKind>,
    /// In its task's list in `Known::task_steps` (so it is forgotten when the task ends).
    listed: bool,
}

impl StepFacts {
    fn unknown(task: TaskId) -> StepFacts {
        StepFacts {
            task,
            retry_limit: DEFAULT_RETRY_LIMIT,
            retryable: true,
            attempts: 0,
            error: None,
            listed: false,
        }
    }

    fn patch(&mut self, patch: &StepPatch) {
        if let Some(a) = patch.attempts {
            self.attempts = a;
        }
        if let Some(l) = patch.retry_limit {
            self.retry_limit = l;
        }
        if let Some(r) = patch.retryable {
            self.retryable = r;
        }
    }

    fn kind(&self) -> ErrorKind {
        if self.attempts >= self.retry_limit {
            ErrorKind::Exhausted
        } else if self.retryable {
            ErrorKind::Retryable
        } else {
            ErrorKind::Neither
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Known {
    pub(super) steps: HashMap<StepId, StepFacts>,
    /// Steps of unfinished tasks, to forget them when the task ends.
    pub(super) task_steps: HashMap<TaskId, Vec<StepId>>,
}

/// The effect of one batch, applied once it is committed.
#[derive(Debug, Default)]
pub struct HealthUpdate {
    tasks: [i64; 6],
    steps: [i64; 6],
    retryable: i64,
    exhausted: i64,
    /// The batch's per-step facts, replacing what was known (None: forget the step).
    facts: Vec<(StepId, Option<StepFacts>)>,
    new_tasks: Vec<(TaskId, Vec<StepId>)>,
    /// Tasks that ended earlier and run again (a manual retry).
    reopened_tasks: Vec<TaskId>,
    ended_tasks: Vec<TaskId>,
}

impl LiveHealth {
    /// Reads a batch about to be committed. Call [`LiveHealth::apply`] with the result once
    /// it committed; drop it if the commit failed.
    pub fn prepare(&self, changes: &[Change]) -> HealthUpdate {
        let known = self.known.lock();
        let mut update = HealthUpdate::default();
        // Facts this batch has already touched (later changes see earlier ones).
        let mut touched: HashMap<StepId, Option<StepFacts>> = HashMap::default();
        let mut step_tasks: HashMap<TaskId, Vec<StepId>> = HashMap::default();
        for change in changes {
            match change {
                Change::CreateTask(new) => {
                    update.tasks[State::Pending.index()] += 1;
                    update.steps[State::Pending.index()] += new.steps.len() as i64;
                    let ids: Vec<StepId> = new.steps.iter().map(|s| s.step_id).collect();
                    for s in &new.steps {
                        let facts = StepFacts {
                            task: new.task.task_id,
                            retry_limit: s.retry_limit,
                            retryable: s.retryable,
                            attempts: s.attempts.unwrap_or(0),
                            error: None,
                            listed: true,
                        };
                        touched.insert(s.step_id, Some(facts));
                    }
                    step_tasks.insert(new.task.task_id, ids);
                }
                Change::TaskTransition {
                    task_id, from, to, ..
                } => {
                    update.tasks[from.unwrap_or(State::Pending).index()] -= 1;
                    update.tasks[to.index()] += 1;
                    if ends(*to) {
                        update.ended_tasks.push(*task_id);
                    } else if from.is_some_and(ends) {
                        update.reopened_tasks.push(*task_id);
                    }
                }
                Change::StepTransition {
                    task_id,
                    step_id,
                    from,
                    to,
                    patch,
                    ..
                } => {
                    update.steps[from.unwrap_or(State::Pending).index()] -= 1;
                    update.steps[to.index()] += 1;
                    let mut facts = current(&touched, &known, *step_id)
                        .unwrap_or_else(|| StepFacts::unknown(*task_id));
                    if let Some(kind) = facts.error.take() {
                        update.count(kind, -1);
                    }
                    facts.patch(patch);
                    if *to == State::Error {
                        let kind = facts.kind();
                        update.count(kind, 1);
                        facts.error = Some(kind);
                    }
                    touched.insert(*step_id, Some(facts));
                }
                Change::PatchStep { step_id, patch, .. } => {
                    if let Some(mut facts) = current(&touched, &known, *step_id) {
                        if let Some(kind) = facts.error {
                            update.count(kind, -1);
                            facts.patch(patch);
                            let kind = facts.kind();
                            update.count(kind, 1);
                            facts.error = Some(kind);
                        } else {
                            facts.patch(patch);
                        }
                        touched.insert(*step_id, Some(facts));
                    }
                }
            }
        }
        update.facts = touched.into_iter().collect();
        update.new_tasks = step_tasks.into_iter().collect();
        update
    }

    /// Applies a committed batch's update.
    pub fn apply(&self, update: HealthUpdate) {
        for i in 0..6 {
            if update.tasks[i] != 0 {
                self.tasks[i].fetch_add(update.tasks[i], Ordering::Relaxed);
            }
            if update.steps[i] != 0 {
                self.steps[i].fetch_add(update.steps[i], Ordering::Relaxed);
            }
        }
        self.retryable_error_steps
            .fetch_add(update.retryable, Ordering::Relaxed);
        self.exhausted_retry_steps
            .fetch_add(update.exhausted, Ordering::Relaxed);
        let mut guard = self.known.lock();
        let known = &mut *guard;
        for task in update.reopened_tasks {
            known.task_steps.entry(task).or_default();
        }
        for (task, steps) in update.new_tasks {
            known.task_steps.insert(task, steps);
        }
        for (step, facts) in update.facts {
            let Some(f) = facts else {
                known.steps.remove(&step);
                continue;
            };
            // Kept while its task runs (a later failure needs its limit) or while it is in
            // error (it is counted by kind); otherwise forgotten.
            if let Some(steps) = known.task_steps.get_mut(&f.task) {
                let mut f = f;
                if !f.listed {
                    steps.push(step);
                    f.listed = true;
                }
                known.steps.insert(step, f);
            } else if f.error.is_some() {
                known.steps.insert(step, f);
            } else {
                known.steps.remove(&step);
            }
        }
        // An ended task's steps are forgotten unless in error.
        for task in update.ended_tasks {
            if let Some(steps) = known.task_steps.remove(&task) {
                for s in steps {
                    match known.steps.get_mut(&s) {
                        Some(f) if f.error.is_some() => f.listed = false,
                        Some(_) => {
                            known.steps.remove(&s);
                        }
                        None => {}
                    }
                }
            }
        }
    }
}

impl HealthUpdate {
    fn count(&mut self, kind: ErrorKind, by: i64) {
        match kind {
            ErrorKind::Retryable => self.retryable += by,
            ErrorKind::Exhausted => self.exhausted += by,
            ErrorKind::Neither => {}
        }
    }
}

fn ends(state: State) -> bool {
    matches!(
        state,
        State::Complete | State::Error | State::Cancelled | State::ResolvedManually
    )
}

fn current(
    touched: &HashMap<StepId, Option<StepFacts>>,
    known: &Known,
    step: StepId,
) -> Option<StepFacts> {
    match touched.get(&step) {
        Some(facts) => *facts,
        None => known.steps.get(&step).copied(),
    }
}
