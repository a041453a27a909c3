//! The [`Store`] trait: what every backend provides.

use crate::change::Change;
use crate::records::{StepRecord, TaskRecord, TransitionRecord};
use tasker_model::{State, StepId, TaskId, TaskerResult};

/// A task read back with its history and steps.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskView {
    pub task: TaskRecord,
    /// The most_recent transition's to_state, or pending.
    pub state: State,
    /// Oldest first.
    pub transitions: Vec<TransitionRecord>,
    /// In template order.
    pub steps: Vec<StepView>,
}

/// A step read back with its history.
#[derive(Debug, Clone, PartialEq)]
pub struct StepView {
    pub step: StepRecord,
    pub state: State,
    /// Oldest first.
    pub transitions: Vec<TransitionRecord>,
    /// Ids of the steps this one depends on.
    pub parents: Vec<StepId>,
}

/// A place tasks live. Implementations must be safe to read from any thread while the state
/// actor writes, and must apply a batch all-or-nothing.
pub trait Store: Send + Sync + 'static {
    /// Applies `batch` atomically. A transition whose `from` is not the current state, or
    /// that the state machine refuses, fails the whole batch and writes nothing.
    fn apply(&self, batch: &[Change]) -> TaskerResult<()>;

    /// Reserves a task id and a contiguous block of `steps` step ids; returns the task id and
    /// the first step id.
    fn allocate_ids(&self, steps: u32) -> TaskerResult<(TaskId, StepId)>;

    /// A task with its steps and history, or `None` when unknown.
    fn task(&self, id: TaskId) -> TaskerResult<Option<TaskView>>;

    /// Just the task's current state (cheap; waiters poll it).
    fn task_state(&self, id: TaskId) -> TaskerResult<Option<State>>;

    /// What this store is, for logs and errors (`memory`, a file path, a redacted URL).
    fn describe(&self) -> String;
}
