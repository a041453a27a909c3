//! The SQL stores' side of [`crate::listing`]: [`SqlStore::list_tasks`] and
//! [`SqlStore::task_of_step`], written once over each database's statements ([`ListSql`]).
//! The SQL text is each database's (`sqlite/listing.rs`, `postgres/listing.rs`); this file
//! must not hold any, nor write.

use crate::listing::{TaskFilter, TaskListing};
use crate::sql::codec::{parse_state, ReadError};
use crate::sql::dialect::{Dialect, InsightRows, Param, ReadRow};
use crate::sql::store::SqlStore;
use tasker_model::{StepId, TaskId, TaskerResult, Timestamp};

/// A database's listing statements.
pub(crate) struct ListSql {
    /// `task_id, namespace, name, version, state (NULL: pending), created_at, state_since`
    /// of the tasks with `task_id < $1`, state `$2` (NULL: any; `pending` also matches a
    /// task without transitions), namespace `$3`, name `$4` (NULL: any), created at or
    /// after `$5`, newest first, at most `$6`.
    pub(crate) tasks: &'static str,
    /// `task_id` of the step `$1`.
    pub(crate) task_of_step: &'static str,
}

/// A database that can list tasks: its statements.
pub(crate) trait Listing: Dialect {
    const LIST: ListSql;
}

impl<D: InsightRows + Listing> SqlStore<D> {
    /// See [`Store::list_tasks`](crate::Store::list_tasks).
    pub(crate) fn list_tasks(&self, filter: &TaskFilter) -> TaskerResult<Vec<TaskListing>> {
        let doing = || "listing tasks".to_string();
        let state = filter.state.map(|s| s.as_str());
        let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
        self.read(doing, || async {
            let params = [
                Param::Int(filter.before.map_or(i64::MAX, |t| t.0)),
                Param::OptText(state),
                Param::OptText(filter.namespace.as_deref()),
                Param::OptText(filter.name.as_deref()),
                Param::Time(filter.since.unwrap_or(Timestamp(0))),
                Param::Int(limit),
            ];
            let mut conn = self.inner.db.begin_read().await?;
            // Planned per call: the best plan depends on which filters are given.
            let rows = D::rows_planned(&mut conn, D::LIST.tasks, &params).await?;
            D::end_read(conn).await?;
            rows.iter()
                .map(listing)
                .collect::<Result<Vec<_>, ReadError>>()
        })
    }

    /// See [`Store::task_of_step`](crate::Store::task_of_step).
    pub(crate) fn task_of_step(&self, step: StepId) -> TaskerResult<Option<TaskId>> {
        let doing = || format!("finding the task of step {step}");
        self.read(doing, || async {
            let mut conn = self.inner.db.begin_read().await?;
            let rows = D::rows(&mut conn, D::LIST.task_of_step, &[Param::Int(step.0)]).await?;
            D::end_read(conn).await?;
            rows.first()
                .map(|r| r.get(0).map(TaskId))
                .transpose()
                .map_err(ReadError::from)
        })
    }
}

fn listing(row: &impl ReadRow) -> Result<TaskListing, ReadError> {
    let state: Option<String> = row.get(4)?;
    Ok(TaskListing {
        task_id: TaskId(row.get(0)?),
        namespace: row.get(1)?,
        name: row.get(2)?,
        version: row.get(3)?,
        state: state
            .as_deref()
            .map_or(Ok(tasker_model::State::Pending), parse_state)?,
        created_at: row.time(5)?,
        state_since: row.time(6)?,
    })
}
