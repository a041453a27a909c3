//! One write to the store. The orchestrator produces these; the state actor applies them.

use crate::records::{StepRecord, TaskRecord, TransitionMeta};
use serde_json::Value as Json;
use std::sync::Arc;
use tasker_model::{State, StepId, TaskId, Timestamp};

/// A new task with its steps and dependency edges.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub task: TaskRecord,
    pub steps: Vec<StepRecord>,
    /// (parent, child) pairs (`tasker_workflow_step_edges`: from_step_id, to_step_id).
    pub edges: Vec<(StepId, StepId)>,
    /// `tasker_tasks.identity_hash` for an idempotent submission (its unique index lets one
    /// task have it); `None` writes a value no other task has.
    pub identity_hash: Option<String>,
}

/// Step columns a change may set; `None` leaves a column as it is.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepPatch {
    pub in_process: Option<bool>,
    pub processed: Option<bool>,
    pub retryable: Option<bool>,
    pub processed_at: Option<Timestamp>,
    pub attempts: Option<u32>,
    pub retry_limit: Option<u32>,
    pub last_attempted_at: Option<Timestamp>,
    /// `Some(None)` clears the column.
    pub backoff_request_seconds: Option<Option<i64>>,
    pub results: Option<Arc<Json>>,
}

/// One write.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Insert a task, its steps and edges.
    CreateTask(Box<NewTask>),
    /// Append a task transition (and set `complete` when given).
    TaskTransition {
        task_id: TaskId,
        from: Option<State>,
        to: State,
        meta: TransitionMeta,
        at: Timestamp,
        complete: Option<bool>,
        /// Optimistic check: the sort_key of the task's most recent transition as the caller
        /// saw it (0: none). A different one fails the batch with `ConcurrentModification`.
        expect_sort_key: Option<i32>,
    },
    /// Append a step transition and update the step's columns in the same write.
    StepTransition {
        task_id: TaskId,
        step_id: StepId,
        from: Option<State>,
        to: State,
        meta: TransitionMeta,
        at: Timestamp,
        patch: StepPatch,
        /// Optimistic check, as for task transitions.
        expect_sort_key: Option<i32>,
    },
    /// Update a step's columns without a transition (e.g. a step handed back).
    PatchStep {
        step_id: StepId,
        at: Timestamp,
        patch: StepPatch,
        /// Optimistic check against the step's most recent transition.
        expect_sort_key: Option<i32>,
    },
}

impl Change {
    /// The task this change belongs to, when it says so directly.
    pub fn task_id(&self) -> Option<TaskId> {
        match self {
            Change::CreateTask(t) => Some(t.task.task_id),
            Change::TaskTransition { task_id, .. } | Change::StepTransition { task_id, .. } => {
                Some(*task_id)
            }
            Change::PatchStep { .. } => None,
        }
    }

    /// This change, refused with `ConcurrentModification` unless its task's or step's
    /// history head is then at `sort_key` (its `expect_sort_key`). A `CreateTask` has no
    /// head and is returned as it is.
    pub fn expecting(mut self, sort_key: i32) -> Change {
        self.set_expect_sort_key(Some(sort_key));
        self
    }

    /// Sets this change's `expect_sort_key` (`None`: no check); a `CreateTask` has none.
    pub fn set_expect_sort_key(&mut self, sort_key: Option<i32>) {
        match self {
            Change::TaskTransition {
                expect_sort_key, ..
            }
            | Change::StepTransition {
                expect_sort_key, ..
            }
            | Change::PatchStep {
                expect_sort_key, ..
            } => *expect_sort_key = sort_key,
            Change::CreateTask(_) => {}
        }
    }
}
