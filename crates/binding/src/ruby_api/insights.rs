//! The Insights methods of `TaskerCore::Native::Engine`: health, analytics and the slowest
//! steps and tasks, answered by the store (one query each, GVL released while it runs).
//! Kept apart from `engine.rs` because they share nothing with running workflows.

use super::engine::Engine;
use crate::helpers::convert::to_ruby_symbol_keys;
use crate::helpers::errors::{error, guard, to_ruby as err};
use crate::helpers::nogvl::nogvl;
use magnus::{method, prelude::*, Error, RClass, Ruby, Value};
use serde::Serialize;
use tasker_model::{TaskerError, TaskerResult, Timestamp};
use tasker_state::insights::SlowQuery;

impl Engine {
    /// Health counts as stored: `{total_tasks:, pending_tasks:, …, in_backoff_steps:,
    /// active_connections:, max_connections:}`.
    fn stored_health(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
        let engine = rb_self.inner.clone();
        query(ruby, move || engine.stored_health())
    }

    /// Analytics since `since_us` (microseconds since the epoch).
    fn analytics_metrics(ruby: &Ruby, rb_self: &Self, since_us: i64) -> Result<Value, Error> {
        let engine = rb_self.inner.clone();
        query(ruby, move || engine.analytics_metrics(Timestamp(since_us)))
    }

    /// The slowest finished rows: `kind` is "steps", "step_groups" or "tasks"; rows
    /// finished at or after `since_us`, at most `limit`, filtered by template when given.
    #[allow(clippy::too_many_arguments)]
    fn slowest(
        ruby: &Ruby,
        rb_self: &Self,
        kind: String,
        since_us: i64,
        limit: u32,
        namespace: Option<String>,
        task_name: Option<String>,
        version: Option<String>,
    ) -> Result<Value, Error> {
        let q = SlowQuery {
            since: Timestamp(since_us),
            limit,
            namespace,
            task_name,
            version,
        };
        let engine = rb_self.inner.clone();
        match kind.as_str() {
            "steps" => query(ruby, move || engine.slowest_steps(&q)),
            "step_groups" => query(ruby, move || engine.slowest_step_groups(&q)),
            "tasks" => query(ruby, move || engine.slowest_tasks(&q)),
            other => Err(error(
                "ValidationError",
                format!("slowest: kind must be steps, step_groups or tasks, not {other:?}"),
            )),
        }
    }
}

/// Runs a store query off the GVL and converts its answer (Symbol keys; timestamps as
/// microseconds since the epoch, which the Ruby classes turn into Times).
fn query<T, F>(ruby: &Ruby, run: F) -> Result<Value, Error>
where
    T: Serialize + Send + 'static,
    F: FnOnce() -> TaskerResult<T> + Send + 'static,
{
    guard(|| {
        let outcome = nogvl(run, || {});
        if let Some(e) = outcome.error {
            return Err(e);
        }
        let value = outcome
            .value
            .unwrap_or_else(|| {
                Err(TaskerError::Orchestration(
                    "the query was interrupted".into(),
                ))
            })
            .map_err(err)?;
        let json = serde_json::to_value(&value).map_err(|e| {
            error(
                "Error",
                format!("could not convert an insights answer: {e}"),
            )
        })?;
        to_ruby_symbol_keys(ruby, &json)
    })
}

/// Adds the Insights methods to `TaskerCore::Native::Engine`.
pub fn define(class: &RClass) -> Result<(), Error> {
    class.define_method("stored_health", method!(Engine::stored_health, 0))?;
    class.define_method("analytics_metrics", method!(Engine::analytics_metrics, 1))?;
    class.define_method("slowest", method!(Engine::slowest, 6))?;
    Ok(())
}
