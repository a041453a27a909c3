//! Listing stored tasks for people: the newest first, filtered by state, namespace, name
//! and creation time, a page at a time by keyset (`before` a task id), for the command
//! line's `tasks` and a dashboard's task list (issue 18).
//!
//! This module owns the filter and the row; each store answers it
//! ([`Store::list_tasks`](crate::Store::list_tasks)). The SQL stores read one index range
//! newest first per filter (`sql/listing.rs` picks the statement) and look each task's name
//! and current state up by unique indexes, so a page costs the same at a thousand tasks or
//! millions, statistics fresh or not, as long as the filter matches a page's worth of the
//! range it reads (docs/web.md lists where it does not). It must not write.

use tasker_model::{State, TaskId, Timestamp};

/// Which tasks [`Store::list_tasks`](crate::Store::list_tasks) returns.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskFilter {
    /// Only tasks in this current state.
    pub state: Option<State>,
    /// Only tasks of templates in this namespace.
    pub namespace: Option<String>,
    /// Only tasks of templates with this name.
    pub name: Option<String>,
    /// Only tasks created at or after this time.
    pub since: Option<Timestamp>,
    /// Only tasks with a smaller id (the last id of the previous page).
    pub before: Option<TaskId>,
    /// At most this many.
    pub limit: usize,
}

impl Default for TaskFilter {
    fn default() -> Self {
        TaskFilter {
            state: None,
            namespace: None,
            name: None,
            since: None,
            before: None,
            limit: Self::DEFAULT_LIMIT,
        }
    }
}

impl TaskFilter {
    /// Tasks per page unless told.
    pub const DEFAULT_LIMIT: usize = 50;

    /// Whether a task with these facts passes (the in-process store's check).
    pub fn admits(&self, row: &TaskListing) -> bool {
        self.state.is_none_or(|s| s == row.state)
            && self.namespace.as_deref().is_none_or(|n| n == row.namespace)
            && self.name.as_deref().is_none_or(|n| n == row.name)
            && self.since.is_none_or(|t| row.created_at >= t)
            && self.before.is_none_or(|b| row.task_id < b)
    }
}

/// One task in a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskListing {
    pub task_id: TaskId,
    pub namespace: String,
    pub name: String,
    pub version: String,
    /// The most recent transition's to_state, or pending.
    pub state: State,
    pub created_at: Timestamp,
    /// When the task got to its current state (its creation when still pending).
    pub state_since: Timestamp,
}
