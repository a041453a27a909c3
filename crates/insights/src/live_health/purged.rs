//! How deleting finished tasks (retention, `tasker_state::retention`) moves the live
//! counters: the deleted tasks and steps leave the counts of their states, and the facts
//! kept of their steps (a cancelled task's steps in error) are dropped with what they
//! counted. Deleting is not a batch of changes, so it does not go through
//! [`LiveHealth::prepare`]; it must not read the store.

use super::LiveHealth;
use std::sync::atomic::Ordering;
use tasker_state::Purged;

use super::update::ErrorKind;

impl LiveHealth {
    /// Takes the tasks and steps `purged` deleted out of the counters.
    pub fn purged(&self, purged: &Purged) {
        for i in 0..6 {
            let (tasks, steps) = (purged.task_states[i] as i64, purged.step_states[i] as i64);
            if tasks != 0 {
                self.tasks[i].fetch_sub(tasks, Ordering::Relaxed);
            }
            if steps != 0 {
                self.steps[i].fetch_sub(steps, Ordering::Relaxed);
            }
        }
        let mut known = self.known.lock();
        for task in &purged.tasks {
            known.task_steps.remove(task);
        }
        for step in &purged.steps {
            match known.steps.remove(step).and_then(|f| f.error) {
                Some(ErrorKind::Retryable) => {
                    self.retryable_error_steps.fetch_sub(1, Ordering::Relaxed);
                }
                Some(ErrorKind::Exhausted) => {
                    self.exhausted_retry_steps.fetch_sub(1, Ordering::Relaxed);
                }
                Some(ErrorKind::Neither) | None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live_health::LiveHealth;
    use serde_json::json;
    use std::sync::Arc;
    use tasker_model::{State, StepId, TaskId, TemplateKey, Timestamp};
    use tasker_state::{Change, NewTask, StepPatch, StepRecord, TaskRecord, TransitionMeta};

    fn create(task: i64, steps: &[i64]) -> Change {
        let key = TemplateKey {
            namespace: "n".into(),
            name: "t".into(),
            version: "1".into(),
        };
        Change::CreateTask(Box::new(NewTask {
            task: TaskRecord::new(TaskId(task), key, Arc::new(json!({})), Timestamp(0)),
            steps: steps
                .iter()
                .enumerate()
                .map(|(i, &s)| {
                    let name = Arc::from(format!("s{i}"));
                    StepRecord::new(StepId(s), TaskId(task), name, i as u32, Timestamp(0))
                })
                .collect(),
            edges: Vec::new(),
            identity_hash: None,
        }))
    }

    fn step(task: i64, step: i64, from: State, to: State) -> Change {
        Change::StepTransition {
            task_id: TaskId(task),
            step_id: StepId(step),
            from: Some(from),
            to,
            meta: TransitionMeta::engine("s"),
            at: Timestamp(0),
            patch: StepPatch::default(),
            expect_sort_key: None,
        }
    }

    fn cancel(task: i64) -> Change {
        Change::TaskTransition {
            task_id: TaskId(task),
            from: None,
            to: State::Cancelled,
            meta: TransitionMeta::engine("t"),
            at: Timestamp(0),
            complete: None,
            expect_sort_key: None,
        }
    }

    #[test]
    fn a_deleted_cancelled_task_leaves_the_counts_and_its_failed_step_the_retryable_count() {
        let health = LiveHealth::default();
        let batch = vec![
            create(1, &[10, 11]),
            step(1, 10, State::Pending, State::InProgress),
            step(1, 10, State::InProgress, State::Error),
            cancel(1),
            create(2, &[20]),
        ];
        let update = health.prepare(&batch);
        health.apply(update);
        assert_eq!(health.counts().retryable_error_steps, 1);
        let mut purged = Purged {
            tasks: vec![TaskId(1)],
            steps: vec![StepId(10), StepId(11)],
            ..Purged::default()
        };
        purged.task_states[State::Cancelled.index()] = 1;
        purged.step_states[State::Error.index()] = 1;
        purged.step_states[State::Pending.index()] = 1;
        health.purged(&purged);
        let c = health.counts();
        assert_eq!(
            (c.total_tasks, c.pending_tasks, c.cancelled_tasks),
            (1, 1, 0)
        );
        assert_eq!((c.total_steps, c.pending_steps, c.error_steps), (1, 1, 0));
        assert_eq!(c.retryable_error_steps, 0);
        assert_eq!(
            health.known_steps(),
            1,
            "only the live task's step is known"
        );
    }
}
