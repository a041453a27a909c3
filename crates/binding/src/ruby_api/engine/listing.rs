//! Listing tasks on `TaskerCore::Native::Engine` (issue 18's command line and dashboard):
//! `list_tasks` (newest first, filtered, a page at a time by keyset) and `task_of_step`.
//! Conversions only, the GVL released for the store reads; what a listing holds and how it
//! is read is `tasker_state::listing`'s. Must not change anything.

use super::arguments::opt_string;
use super::Engine;
use crate::helpers::convert::to_i64;
use crate::helpers::errors::{guard, invalid};
use crate::helpers::nogvl::blocking;
use crate::helpers::view::{to_ruby, Keys, RubyTime};
use magnus::{prelude::*, Error, Ruby, Value};
use serde::Serialize;
use tasker_model::{State, StepId, TaskId, Timestamp};
use tasker_state::{TaskFilter, TaskListing};

/// One row of `list_tasks`.
#[derive(Serialize)]
struct Row<'a> {
    task_id: i64,
    namespace: &'a str,
    name: &'a str,
    version: &'a str,
    state: &'static str,
    created_at: RubyTime,
    state_since: RubyTime,
}

impl<'a> From<&'a TaskListing> for Row<'a> {
    fn from(t: &'a TaskListing) -> Self {
        Row {
            task_id: t.task_id.0,
            namespace: &t.namespace,
            name: &t.name,
            version: &t.version,
            state: t.state.as_str(),
            created_at: RubyTime(t.created_at),
            state_since: RubyTime(t.state_since),
        }
    }
}

impl Engine {
    /// `list_tasks(state, namespace, name, since, before, limit)`: Hashes of the stored tasks,
    /// newest first. Each filter may be nil: `state` a state's name, `since` seconds since the
    /// epoch (a Float), `before` a task id (the last of the previous page), `limit` at least 1.
    #[allow(clippy::too_many_arguments)] // Ruby's positional call, read field by field
    pub(super) fn list_tasks(
        ruby: &Ruby,
        rb_self: &Self,
        state: Value,
        namespace: Value,
        name: Value,
        since: Value,
        before: Value,
        limit: Value,
    ) -> Result<Value, Error> {
        guard(|| {
            let state = match opt_string(state, "state")? {
                None => None,
                Some(s) => Some(State::parse(&s).ok_or_else(|| {
                    let names: Vec<&str> = State::ALL.iter().map(|s| s.as_str()).collect();
                    invalid("state", format!("{s:?} is not one of {}", names.join(", ")))
                })?),
            };
            let since = if since.is_nil() {
                None
            } else {
                let seconds =
                    f64::try_convert(since).map_err(|_| invalid("since", "expected a Time"))?;
                Some(Timestamp((seconds * 1e6).round() as i64))
            };
            let limit = if limit.is_nil() {
                TaskFilter::DEFAULT_LIMIT
            } else {
                let n = to_i64(limit, "limit")?;
                if n < 1 {
                    return Err(invalid("limit", format!("must be at least 1, got {n}")));
                }
                n as usize
            };
            let filter = TaskFilter {
                state,
                namespace: opt_string(namespace, "namespace")?,
                name: opt_string(name, "name")?,
                since,
                before: if before.is_nil() {
                    None
                } else {
                    Some(TaskId(to_i64(before, "before")?))
                },
                limit,
            };
            let engine = rb_self.live()?.clone();
            let rows = blocking("listing tasks", move || engine.list_tasks(&filter))?;
            let rows: Vec<Row> = rows.iter().map(Row::from).collect();
            to_ruby(ruby, &rows, Keys::String)
        })
    }

    /// `task_of_step(step_id)`: the id of the task the step belongs to, or nil.
    pub(super) fn task_of_step(&self, step_id: Value) -> Result<Option<i64>, Error> {
        guard(|| {
            let step = StepId(to_i64(step_id, "step_id")?);
            let engine = self.live()?.clone();
            let task = blocking("the read", move || engine.task_of_step(step))?;
            Ok(task.map(|t| t.0))
        })
    }
}
