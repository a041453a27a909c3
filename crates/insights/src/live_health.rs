//! Counters of tasks and steps by state, moved by committed changes.
//!
//! Each batch is read once before it is committed ([`LiveHealth::prepare`]) into a
//! [`HealthUpdate`] that is applied only if the commit succeeds, so a refused batch moves
//! nothing. Batches commit one at a time, in order, so each `prepare` sees the effect of
//! every earlier committed batch.
//!
//! Splitting steps in error into retryable and exhausted needs each step's retry limit,
//! retryable flag and attempts, which a transition does not always carry; those facts are
//! kept for the steps of unfinished tasks and for steps in error only, so memory follows
//! the work in flight, not the work done.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use tasker_model::{State, StepId, TaskId};
use tasker_state::{Change, CommitObserver, StepPatch};

/// Retry limit assumed for a step this process never saw created (TASKER.md's default).
const DEFAULT_RETRY_LIMIT: u32 = 3;

/// A reading of the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HealthCounts {
    /// Tasks per state, indexed like [`State::ALL`].
    pub tasks: [i64; 6],
    /// Steps per state, indexed like [`State::ALL`].
    pub steps: [i64; 6],
    /// Steps in error that will be retried: retryable and attempts below the limit.
    pub retryable_error_steps: i64,
    /// Steps in error whose attempts reached the retry limit.
    pub exhausted_retry_steps: i64,
}

impl HealthCounts {
    /// Tasks in `state`.
    pub fn tasks_in(&self, state: State) -> i64 {
        self.tasks[index(state)]
    }

    /// Steps in `state`.
    pub fn steps_in(&self, state: State) -> i64 {
        self.steps[index(state)]
    }
}

fn index(state: State) -> usize {
    State::ALL
        .iter()
        .position(|s| *s == state)
        .expect("every state is in ALL")
}

/// How a step in error counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorKind {
    Retryable,
    Exhausted,
    /// Not retryable (a permanent failure) with attempts left: neither.
    Neither,
}

/// What classifying an error step needs.
#[derive(Debug, Clone, Copy)]
struct StepFacts {
    task: TaskId,
    retry_limit: u32,
    retryable: bool,
    attempts: u32,
    /// Set while the step is in error.
    error: Option<ErrorKind>,
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
struct Known {
    steps: HashMap<StepId, StepFacts>,
    /// Steps of unfinished tasks, to forget them when the task ends.
    task_steps: HashMap<TaskId, Vec<StepId>>,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct LiveHealth {
    tasks: [AtomicI64; 6],
    steps: [AtomicI64; 6],
    retryable_error_steps: AtomicI64,
    exhausted_retry_steps: AtomicI64,
    known: Mutex<Known>,
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
    /// Starts from counts read from the store (the tasks that existed before this process).
    pub fn seeded(counts: HealthCounts) -> LiveHealth {
        let health = LiveHealth::default();
        for i in 0..6 {
            health.tasks[i].store(counts.tasks[i], Ordering::Relaxed);
            health.steps[i].store(counts.steps[i], Ordering::Relaxed);
        }
        health
            .retryable_error_steps
            .store(counts.retryable_error_steps, Ordering::Relaxed);
        health
            .exhausted_retry_steps
            .store(counts.exhausted_retry_steps, Ordering::Relaxed);
        health
    }

    /// The counters now: a few relaxed loads (a reading racing a commit may see part of it).
    pub fn counts(&self) -> HealthCounts {
        let load = |a: &AtomicI64| a.load(Ordering::Relaxed);
        HealthCounts {
            tasks: std::array::from_fn(|i| load(&self.tasks[i])),
            steps: std::array::from_fn(|i| load(&self.steps[i])),
            retryable_error_steps: load(&self.retryable_error_steps),
            exhausted_retry_steps: load(&self.exhausted_retry_steps),
        }
    }

    /// Reads a batch about to be committed. Call [`LiveHealth::apply`] with the result once
    /// it committed; drop it if the commit failed.
    pub fn prepare(&self, changes: &[Change]) -> HealthUpdate {
        let known = self.known.lock();
        let mut update = HealthUpdate::default();
        // Facts this batch has already touched (later changes see earlier ones).
        let mut touched: HashMap<StepId, Option<StepFacts>> = HashMap::new();
        let mut step_tasks: HashMap<TaskId, Vec<StepId>> = HashMap::new();
        for change in changes {
            match change {
                Change::CreateTask(new) => {
                    update.tasks[index(State::Pending)] += 1;
                    update.steps[index(State::Pending)] += new.steps.len() as i64;
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
                    update.tasks[index(from.unwrap_or(State::Pending))] -= 1;
                    update.tasks[index(*to)] += 1;
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
                    update.steps[index(from.unwrap_or(State::Pending))] -= 1;
                    update.steps[index(*to)] += 1;
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

    /// Steps whose facts are kept now (for tests of the memory bound).
    pub fn known_steps(&self) -> usize {
        self.known.lock().steps.len()
    }
}

/// Plugs a [`LiveHealth`] into the state actor: each batch is prepared before it commits
/// and applied once it has.
pub struct HealthObserver(pub Arc<LiveHealth>);

impl CommitObserver for HealthObserver {
    fn before_commit(&self, changes: &[Change]) -> Box<dyn FnOnce() + Send> {
        let update = self.0.prepare(changes);
        let health = self.0.clone();
        Box::new(move || health.apply(update))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tasker_model::{TemplateKey, Timestamp};
    use tasker_state::{NewTask, StepRecord, TaskRecord, TransitionMeta};

    fn create(task: i64, steps: &[i64], retry_limit: u32) -> Change {
        let at = Timestamp(0);
        Change::CreateTask(Box::new(NewTask {
            task: TaskRecord {
                task_id: TaskId(task),
                template: TemplateKey {
                    namespace: "n".into(),
                    name: "t".into(),
                    version: "1".into(),
                },
                context: Arc::new(json!({})),
                initiator: None,
                source_system: None,
                reason: None,
                tags: json!([]),
                complete: false,
                requested_at: at,
                created_at: at,
                updated_at: at,
            },
            steps: steps
                .iter()
                .enumerate()
                .map(|(i, &s)| StepRecord {
                    step_id: StepId(s),
                    task_id: TaskId(task),
                    name: Arc::from(format!("s{i}")),
                    template_index: i as u32,
                    retryable: true,
                    retry_limit,
                    in_process: false,
                    processed: false,
                    processed_at: None,
                    attempts: None,
                    last_attempted_at: None,
                    backoff_request_seconds: None,
                    results: None,
                    skippable: false,
                    created_at: at,
                    updated_at: at,
                })
                .collect(),
            edges: Vec::new(),
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

    #[test]
    fn counts_follow_a_task_through_retries_to_an_exhausted_failure() {
        let h = LiveHealth::default();
        commit(&h, vec![create(1, &[10, 11], 2)]);
        assert_eq!(
            (h.counts().tasks_in(Pending), h.counts().steps_in(Pending)),
            (1, 2)
        );
        commit(
            &h,
            vec![
                task(1, None, InProgress),
                step(1, 10, None, InProgress, StepPatch::default()),
            ],
        );
        commit(&h, vec![fail(1, 10, InProgress, 1, true)]);
        let c = h.counts();
        assert_eq!(
            (
                c.steps_in(Error),
                c.retryable_error_steps,
                c.exhausted_retry_steps
            ),
            (1, 1, 0)
        );
        commit(
            &h,
            vec![
                step(1, 10, Some(Error), Pending, StepPatch::default()),
                step(1, 10, Some(Pending), InProgress, StepPatch::default()),
                fail(1, 10, InProgress, 2, true),
            ],
        );
        let c = h.counts();
        assert_eq!(
            (
                c.steps_in(Error),
                c.retryable_error_steps,
                c.exhausted_retry_steps
            ),
            (1, 0, 1)
        );
        commit(&h, vec![task(1, Some(InProgress), Error)]);
        let c = h.counts();
        assert_eq!(c.tasks, [0, 0, 0, 1, 0, 0]);
        assert_eq!(c.steps, [1, 0, 0, 1, 0, 0]);
        // The ended task's pending step is forgotten; its error step is kept (it is counted).
        assert_eq!(h.known_steps(), 1);
    }

    #[test]
    fn a_permanent_failure_is_neither_retryable_nor_exhausted() {
        let h = LiveHealth::default();
        commit(&h, vec![create(1, &[10], 3), task(1, None, InProgress)]);
        commit(
            &h,
            vec![
                step(1, 10, None, InProgress, StepPatch::default()),
                fail(1, 10, InProgress, 1, false),
            ],
        );
        let c = h.counts();
        assert_eq!(
            (
                c.steps_in(Error),
                c.retryable_error_steps,
                c.exhausted_retry_steps
            ),
            (1, 0, 0)
        );
    }

    #[test]
    fn a_manual_reset_with_a_new_limit_reclassifies_and_a_retried_task_tracks_its_steps_again() {
        let h = LiveHealth::default();
        commit(&h, vec![create(1, &[10], 1), task(1, None, InProgress)]);
        commit(
            &h,
            vec![
                step(1, 10, None, InProgress, StepPatch::default()),
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
        assert_eq!(c.tasks, [0, 0, 1, 0, 0, 0]);
        assert_eq!(c.steps, [0, 0, 1, 0, 0, 0]);
        assert_eq!((c.retryable_error_steps, c.exhausted_retry_steps), (0, 0));
        assert_eq!(h.known_steps(), 0, "nothing is kept for finished work");
    }

    #[test]
    fn a_batch_that_is_not_applied_moves_nothing_and_seeding_starts_from_stored_counts() {
        let h = LiveHealth::seeded(HealthCounts {
            tasks: [2, 0, 5, 1, 0, 0],
            steps: [4, 0, 20, 1, 0, 0],
            retryable_error_steps: 0,
            exhausted_retry_steps: 1,
        });
        let refused = h.prepare(&[create(9, &[90], 3)]);
        drop(refused);
        assert_eq!(h.counts().tasks, [2, 0, 5, 1, 0, 0]);
        commit(&h, vec![create(9, &[90], 3)]);
        assert_eq!(h.counts().tasks, [3, 0, 5, 1, 0, 0]);
        assert_eq!(h.counts().steps[0], 5);
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
                    step(t, s, None, InProgress, StepPatch::default()),
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
}
