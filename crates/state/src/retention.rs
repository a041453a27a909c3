//! Retention: deleting finished tasks once they are old enough, so a long-running store does
//! not grow with the work done (issue 17, item 6).
//!
//! A task is *expired* when its current state is one it never leaves for an unfinished one
//! ([`RETAINED_STATES`]: complete, cancelled, resolved_manually) and that state's transition
//! is older than the cutoff. A task in `error` is not expired: TASKER.md lets it go back to
//! pending (a manual retry) or be resolved, so an operator may still act on it.
//!
//! [`Store::purge_finished`](crate::Store::purge_finished) deletes up to a batch of expired
//! tasks, oldest first, with every row that belongs to them (steps, both histories, edges,
//! annotations, claims), in one transaction, and says what it deleted in a [`Purged`] so the
//! engine can drop what it keeps of them (kept outcomes, live counters). Batches keep a big
//! backlog from holding locks for long; the SQL stores select a batch by an index of
//! the finished transitions by time and delete by the ids they selected, so no plan depends on
//! table statistics (PostgreSQL may run without autovacuum). This module owns the shared
//! facts; each store owns its own deleting.

use tasker_model::{State, StepId, TaskId};

/// The task states retention may delete: a task in one of them never runs again.
pub const RETAINED_STATES: [State; 3] =
    [State::Complete, State::Cancelled, State::ResolvedManually];

/// Whether a task in `state` is finished for retention (see the module documentation).
pub fn expires(state: State) -> bool {
    RETAINED_STATES.contains(&state)
}

/// What one [`Store::purge_finished`](crate::Store::purge_finished) deleted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Purged {
    /// The tasks deleted, oldest finished first.
    pub tasks: Vec<TaskId>,
    /// Their steps.
    pub steps: Vec<StepId>,
    /// The deleted tasks by their state, indexed by [`State::index`].
    pub task_states: [u64; 6],
    /// The deleted steps by their state, indexed by [`State::index`].
    pub step_states: [u64; 6],
}

impl Purged {
    /// Whether nothing was deleted.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Adds another batch's deletions to these.
    pub fn extend(&mut self, other: Purged) {
        self.tasks.extend(other.tasks);
        self.steps.extend(other.steps);
        for i in 0..6 {
            self.task_states[i] += other.task_states[i];
            self.step_states[i] += other.step_states[i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_not_finished_for_retention_since_it_may_be_retried() {
        assert!(expires(State::Complete));
        assert!(expires(State::Cancelled));
        assert!(expires(State::ResolvedManually));
        assert!(!expires(State::Error));
        assert!(!expires(State::Pending));
        assert!(!expires(State::InProgress));
    }

    #[test]
    fn batches_add_up() {
        let mut a = Purged {
            tasks: vec![TaskId(1)],
            steps: vec![StepId(1), StepId(2)],
            task_states: [0, 0, 1, 0, 0, 0],
            step_states: [0, 0, 2, 0, 0, 0],
        };
        a.extend(Purged {
            tasks: vec![TaskId(2)],
            steps: vec![StepId(3)],
            task_states: [0, 0, 0, 0, 1, 0],
            step_states: [1, 0, 0, 0, 0, 0],
        });
        assert_eq!(a.tasks, vec![TaskId(1), TaskId(2)]);
        assert_eq!(a.task_states, [0, 0, 1, 0, 1, 0]);
        assert_eq!(a.step_states, [1, 0, 2, 0, 0, 0]);
        assert!(!a.is_empty());
        assert!(Purged::default().is_empty());
    }
}
