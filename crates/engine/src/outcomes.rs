//! [`TaskOutcome`]: a task's state and each step's outcome, and [`Outcomes`], where the
//! engine keeps the outcomes of the tasks it finished so reading one back costs a map
//! lookup instead of a store round trip.
//!
//! Why: users submit thousands of small tasks and read each result back; read from the
//! store, a result costs several queries (milliseconds on PostgreSQL), more than running the
//! task. The engine that finished a task already holds everything its outcome says.
//!
//! The rules that keep it truthful:
//! - an outcome enters only after the batch that finished its task is committed (the state
//!   actor runs the insertion after that commit; a failed commit drops it), so what it
//!   says is what the store says;
//! - a manual operation forgets the task's outcome before it runs; if the operation finishes
//!   the task again, the new outcome enters after its commit;
//! - it is bounded ([`OUTCOMES_KEPT`], oldest out first): memory does not grow with work
//!   done, and a task evicted is read from the store as before;
//! - a task that failed at any point is not kept (its summary names errors that only the
//!   store's history holds): it is read from the store.
//!
//! It also knows which tasks this engine submitted and has not finished (`live`), so a
//! waiter for one of them waits for the finish signal instead of polling the store.
//! It must not decide anything about a task or talk to the store.

use crate::live_task::LiveTask;
use parking_lot::Mutex;
use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::Value as Json;
use std::collections::VecDeque;
use std::sync::Arc;
use tasker_model::{State, StepId, TaskId};
use tasker_state::{TaskFinishedSignal, TaskView};

/// How many finished tasks' outcomes an engine keeps.
pub const OUTCOMES_KEPT: usize = 20_000;

/// A task's state and, per step (template order), its outcome; no history.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskOutcome {
    pub task_id: TaskId,
    pub state: State,
    pub steps: Vec<StepOutcome>,
}

/// One step's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutcome {
    pub step_id: StepId,
    pub name: Arc<str>,
    pub state: State,
    pub attempts: u32,
    pub results: Option<Arc<Json>>,
    /// The message of the step's latest failure, if it ever failed.
    pub error: Option<String>,
}

impl TaskOutcome {
    /// The outcome a stored task shows.
    pub fn from_view(view: &TaskView) -> TaskOutcome {
        TaskOutcome {
            task_id: view.task.task_id,
            state: view.state,
            steps: view
                .steps
                .iter()
                .map(|s| StepOutcome {
                    step_id: s.step.step_id,
                    name: s.step.name.clone(),
                    state: s.state,
                    attempts: s.step.attempts.unwrap_or(0),
                    results: s.step.results.clone(),
                    error: s
                        .transitions
                        .iter()
                        .rev()
                        .find(|t| t.to_state == State::Error)
                        .and_then(|t| t.meta.error_message.clone()),
                })
                .collect(),
        }
    }

    /// The outcome of a live task that just finished in `state`; `None` when a step failed
    /// at some point (the store's history holds its message, see the module rules).
    pub(crate) fn of_finished(task: &LiveTask, state: State) -> Option<TaskOutcome> {
        if task.last_error.is_some() {
            return None;
        }
        Some(TaskOutcome {
            task_id: task.id,
            state,
            steps: task
                .steps
                .iter()
                .enumerate()
                .map(|(i, s)| StepOutcome {
                    step_id: s.id,
                    name: task.template.graph.name(i as u32).clone(),
                    state: s.state,
                    attempts: s.attempts,
                    results: s.results.clone(),
                    error: None,
                })
                .collect(),
        })
    }
}

/// See the module documentation.
#[derive(Default)]
pub struct Outcomes {
    inner: Mutex<Kept>,
    /// Woken when an outcome enters: the state actor's own wake-up for a finishing batch
    /// can come before the insertion (an `AfterCommit` that arrives after a quick commit
    /// ran runs on its own), and a waiter must not sleep through it.
    finished: Arc<TaskFinishedSignal>,
}

#[derive(Default)]
struct Kept {
    /// FxHash, not SipHash: every `submit_task` inserts here on the caller's thread, and
    /// SipHash was a fifth of the engine's part of a submit (benches/submit_instructions.rb);
    /// the keys are ids the engine allocated, not input an attacker chooses.
    live: FxHashSet<TaskId>,
    done: FxHashMap<TaskId, Arc<TaskOutcome>>,
    /// Insertion order of `done`, for eviction.
    order: VecDeque<TaskId>,
}

/// What the engine knows of a task without the store.
#[derive(Debug, Clone)]
pub enum Known {
    /// Finished by this engine; its committed outcome.
    Finished(Arc<TaskOutcome>),
    /// Submitted by this engine and not finished yet.
    Live,
    /// Not known here: ask the store.
    Unknown,
}

impl Outcomes {
    /// Outcomes whose arrivals wake `finished`'s waiters.
    pub(crate) fn new(finished: Arc<TaskFinishedSignal>) -> Outcomes {
        Outcomes {
            inner: Mutex::default(),
            finished,
        }
    }

    /// A task this engine just submitted.
    pub(crate) fn submitted(&self, task_id: TaskId) {
        self.inner.lock().live.insert(task_id);
    }

    /// A task whose finish is committed; keeps `outcome` when there is one.
    pub(crate) fn finished(&self, task_id: TaskId, outcome: Option<TaskOutcome>) {
        {
            let mut kept = self.inner.lock();
            kept.live.remove(&task_id);
            if let Some(outcome) = outcome {
                if kept.done.insert(task_id, Arc::new(outcome)).is_none() {
                    kept.order.push_back(task_id);
                }
                while kept.done.len() > OUTCOMES_KEPT {
                    match kept.order.pop_front() {
                        Some(old) => {
                            kept.done.remove(&old);
                        }
                        None => break,
                    }
                }
            }
        }
        self.finished.notify();
    }

    /// A task submitted here whose finish will not be announced (its commit failed).
    pub(crate) fn live_ended(&self, task_id: TaskId) {
        self.inner.lock().live.remove(&task_id);
    }

    /// A task about to change by other means than finishing (a manual operation): what is
    /// kept of it no longer holds.
    pub(crate) fn forget(&self, task_id: TaskId) {
        let mut kept = self.inner.lock();
        kept.live.remove(&task_id);
        if kept.done.remove(&task_id).is_some() {
            kept.order.retain(|id| *id != task_id);
        }
    }

    /// Tasks deleted from the store (retention): nothing of them is kept any more, so a
    /// reader asks the store and finds no task. One pass over the eviction order for all.
    pub(crate) fn forget_all(&self, task_ids: &[TaskId]) {
        let mut kept = self.inner.lock();
        let mut dropped = false;
        for id in task_ids {
            kept.live.remove(id);
            dropped |= kept.done.remove(id).is_some();
        }
        if dropped {
            let Kept { done, order, .. } = &mut *kept;
            order.retain(|id| done.contains_key(id));
        }
    }

    /// What is known of `task_id` here.
    pub fn known(&self, task_id: TaskId) -> Known {
        let kept = self.inner.lock();
        if let Some(outcome) = kept.done.get(&task_id) {
            Known::Finished(outcome.clone())
        } else if kept.live.contains(&task_id) {
            Known::Live
        } else {
            Known::Unknown
        }
    }

    /// Drops what the engine knows of live tasks (it stopped: none will finish here).
    pub(crate) fn stopped(&self) {
        self.inner.lock().live.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(id: i64) -> TaskOutcome {
        TaskOutcome {
            task_id: TaskId(id),
            state: State::Complete,
            steps: vec![],
        }
    }

    #[test]
    fn live_then_finished_then_forgotten() {
        let o = Outcomes::default();
        assert!(matches!(o.known(TaskId(1)), Known::Unknown));
        o.submitted(TaskId(1));
        assert!(matches!(o.known(TaskId(1)), Known::Live));
        o.finished(TaskId(1), Some(outcome(1)));
        assert!(matches!(o.known(TaskId(1)), Known::Finished(f) if f.state == State::Complete));
        o.forget(TaskId(1));
        assert!(matches!(o.known(TaskId(1)), Known::Unknown));
    }

    #[test]
    fn an_arriving_outcome_wakes_the_waiters() {
        // The state actor's own wake-up may come before the insertion; without this one a
        // waiter slept until its periodic check (100 ms), in one wait of ten on `memory:`.
        let signal = Arc::new(TaskFinishedSignal::default());
        let o = Outcomes::new(signal.clone());
        let seen = signal.generation();
        o.finished(TaskId(3), Some(outcome(3)));
        assert!(signal.generation() > seen);
    }

    #[test]
    fn a_finish_without_outcome_leaves_the_store_to_answer() {
        let o = Outcomes::default();
        o.submitted(TaskId(2));
        o.finished(TaskId(2), None);
        assert!(matches!(o.known(TaskId(2)), Known::Unknown));
    }

    #[test]
    fn tasks_deleted_from_the_store_are_forgotten_with_their_place_in_the_order() {
        let o = Outcomes::default();
        for id in 0..5 {
            o.finished(TaskId(id), Some(outcome(id)));
        }
        o.forget_all(&[TaskId(1), TaskId(3), TaskId(9)]);
        assert!(matches!(o.known(TaskId(1)), Known::Unknown));
        assert!(matches!(o.known(TaskId(2)), Known::Finished(_)));
        let kept = o.inner.lock();
        assert_eq!(kept.order, vec![TaskId(0), TaskId(2), TaskId(4)]);
    }

    #[test]
    fn keeps_at_most_the_bound_oldest_out_first() {
        let o = Outcomes::default();
        for id in 0..(OUTCOMES_KEPT as i64 + 10) {
            o.finished(TaskId(id), Some(outcome(id)));
        }
        let kept = o.inner.lock();
        assert_eq!(kept.done.len(), OUTCOMES_KEPT);
        assert_eq!(kept.order.len(), OUTCOMES_KEPT);
        assert!(!kept.done.contains_key(&TaskId(9)));
        assert!(kept.done.contains_key(&TaskId(10)));
    }
}
