//! The SQL stores' side of [`crate::listing`]: [`SqlStore::list_tasks`] and
//! [`SqlStore::task_of_step`], written once over each database's statements ([`ListSql`]).
//! The SQL text is each database's (`sqlite/listing.rs`, `postgres/listing.rs`); this file
//! must not hold any, nor write.
//!
//! Which statement answers a filter is chosen here, not by the planner: each reads one index
//! range newest first and stops after a page (migrations `postgres/0007`, `sqlite/0006`), so
//! a page costs the same at a thousand tasks or a million, statistics fresh or stale.
//!
//! - no state, namespace or name: the tasks' primary key backwards ([`ListSql::tasks`]);
//! - `pending`: the tasks not complete ([`ListSql::pending`]);
//! - another state: the most recent transitions in that state ([`ListSql::by_state`]), but
//!   `complete` with a namespace or name goes by template (complete is most of a history);
//! - a namespace or name: the matching templates ([`ListSql::templates`]), then a page of
//!   each one's tasks ([`ListSql::of_template`]), merged newest first.
//!
//! A creation time (`since`) first reads the tasks created at or after it, oldest first, from
//! their index by creation time ([`ListSql::created_since`], migrations `postgres/0010`,
//! `sqlite/0007`), at most [`SINCE_SET`] + 1 of them. When they are at most [`SINCE_SET`],
//! the page comes from those tasks alone ([`ListSql::in_set`]), whatever the other filters:
//! the cost is bounded by [`SINCE_SET`], not by how many older tasks the other filters
//! match. (Task ids are not in creation order across processes, which reserve ids in blocks,
//! so the time cannot be turned into an id bound.) When more tasks were created since, the
//! statement of the other filters answers as without `since`, checking the time per row.

use crate::listing::{TaskFilter, TaskListing};
use crate::sql::codec::{parse_state, ReadError};
use crate::sql::dialect::{Dialect, InsightRows, Param, ReadRow};
use crate::sql::store::SqlStore;
use tasker_model::{State, StepId, TaskId, TaskerResult, Timestamp};

/// A database's listing statements.
pub(crate) struct ListSql {
    /// `task_id, namespace, name, version, state (NULL: pending), created_at, state_since`
    /// of the tasks with `task_id < $1`, state `$2` (NULL: any; `pending` also matches a
    /// task without transitions), namespace `$3`, name `$4` (NULL: any), created at or
    /// after `$5`, newest first, at most `$6`. Walks the primary key.
    pub(crate) tasks: &'static str,
    /// As `tasks`, `$2` not NULL and not `pending`, from the most recent transitions'
    /// index by state.
    pub(crate) by_state: &'static str,
    /// As `tasks`, `$2` = `pending`, from the index of the tasks not complete.
    pub(crate) pending: &'static str,
    /// `named_task_id` of the templates in namespace `$1` with name `$2` (NULL: any).
    pub(crate) templates: &'static str,
    /// As `tasks`, for the tasks of template (named task) `$3` instead of a namespace and
    /// name: `task_id < $1`, state `$2`, created at or after `$4`, at most `$5`.
    pub(crate) of_template: &'static str,
    /// `task_id` of the tasks created at or after `$1`, oldest first, at most `$2`, from the
    /// index by creation time.
    pub(crate) created_since: &'static str,
    /// As `tasks`, for the tasks whose ids are in `$7` (a [`Param::Ids`], at most
    /// [`SINCE_SET`]): each looked up by its primary key.
    pub(crate) in_set: &'static str,
    /// `task_id` of the step `$1`.
    pub(crate) task_of_step: &'static str,
    /// The overview's chart: `bucket, steps, errors` for the intervals of `[$1, $2]` (from,
    /// to) that have any, an interval being `(micros - $3) / $4` (from in microseconds, the
    /// width) at most `$5 - 1` (the last bucket): the step transitions and task transitions
    /// [`Store::analytics_metrics`](crate::Store::analytics_metrics) counts as completed
    /// steps and failed tasks, read from the same index ranges, in one statement.
    pub(crate) throughput: &'static str,
}

/// The most tasks created since a `since` filter's time that are listed from their ids
/// alone (see the file comment).
pub(crate) const SINCE_SET: usize = 1000;

/// A database that can list tasks: its statements.
pub(crate) trait Listing: Dialect {
    const LIST: ListSql;
}

/// The statement that answers a filter (see the file comment).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Plan {
    Tasks,
    Pending,
    ByState,
    ByTemplate,
}

fn plan(filter: &TaskFilter) -> Plan {
    let template = filter.namespace.is_some() || filter.name.is_some();
    match filter.state {
        Some(State::Pending) => Plan::Pending,
        Some(State::Complete) if template => Plan::ByTemplate,
        Some(_) => Plan::ByState,
        None if template => Plan::ByTemplate,
        None => Plan::Tasks,
    }
}

impl<D: InsightRows + Listing> SqlStore<D> {
    /// See [`Store::list_tasks`](crate::Store::list_tasks).
    pub(crate) fn list_tasks(&self, filter: &TaskFilter) -> TaskerResult<Vec<TaskListing>> {
        let doing = || "listing tasks".to_string();
        let state = filter.state.map(|s| s.as_str());
        let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
        let before = filter.before.map_or(i64::MAX, |t| t.0);
        let since = filter.since.unwrap_or(Timestamp(0));
        self.read(doing, || async {
            let mut conn = self.inner.db.begin_read().await?;
            let params = [
                Param::Int(before),
                Param::OptText(state),
                Param::OptText(filter.namespace.as_deref()),
                Param::OptText(filter.name.as_deref()),
                Param::Time(since),
                Param::Int(limit),
            ];
            if filter.since.is_some() {
                let bound = Param::Int(SINCE_SET as i64 + 1);
                let ids = D::rows(
                    &mut conn,
                    D::LIST.created_since,
                    &[Param::Time(since), bound],
                )
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect::<Result<Vec<i64>, _>>()
                .map_err(ReadError::from)?;
                if ids.len() <= SINCE_SET {
                    let mut with_ids = params.to_vec();
                    with_ids.push(Param::Ids(ids));
                    let rows = D::rows_planned(&mut conn, D::LIST.in_set, &with_ids).await?;
                    D::end_read(conn).await?;
                    return rows
                        .iter()
                        .map(listing)
                        .collect::<Result<Vec<_>, ReadError>>();
                }
            }
            let sql = match plan(filter) {
                Plan::Tasks => D::LIST.tasks,
                Plan::Pending => D::LIST.pending,
                Plan::ByState => D::LIST.by_state,
                Plan::ByTemplate => {
                    let names = [
                        Param::OptText(filter.namespace.as_deref()),
                        Param::OptText(filter.name.as_deref()),
                    ];
                    // Ids first: a row may not be held by reference across an await.
                    let templates = D::rows(&mut conn, D::LIST.templates, &names)
                        .await?
                        .iter()
                        .map(|r| r.get(0))
                        .collect::<Result<Vec<i64>, _>>()
                        .map_err(ReadError::from)?;
                    let mut rows = Vec::new();
                    for id in templates {
                        let params = [
                            Param::Int(before),
                            Param::OptText(state),
                            Param::Int(id),
                            Param::Time(since),
                            Param::Int(limit),
                        ];
                        rows.extend(D::rows(&mut conn, D::LIST.of_template, &params).await?);
                    }
                    D::end_read(conn).await?;
                    let mut tasks = rows
                        .iter()
                        .map(listing)
                        .collect::<Result<Vec<_>, ReadError>>()?;
                    tasks.sort_unstable_by_key(|t| std::cmp::Reverse(t.task_id.0));
                    tasks.truncate(filter.limit);
                    return Ok(tasks);
                }
            };
            // Planned per call (PostgreSQL): a generic plan once sorted every task of a
            // template for each page.
            let rows = D::rows_planned(&mut conn, sql, &params).await?;
            D::end_read(conn).await?;
            rows.iter()
                .map(listing)
                .collect::<Result<Vec<_>, ReadError>>()
        })
    }

    /// See [`Store::throughput`](crate::Store::throughput).
    pub(crate) fn throughput(
        &self,
        from: Timestamp,
        to: Timestamp,
        buckets: u32,
    ) -> TaskerResult<Vec<(u64, u64)>> {
        let doing = || "counting steps and failures per interval".to_string();
        let n = i64::from(buckets.max(1));
        let width = ((to.0 - from.0) / n).max(1);
        self.read(doing, || async {
            let mut conn = self.inner.db.begin_read().await?;
            let params = [
                Param::Time(from),
                Param::Time(to),
                Param::Int(from.0),
                Param::Int(width),
                Param::Int(n),
            ];
            let rows = D::rows(&mut conn, D::LIST.throughput, &params).await?;
            D::end_read(conn).await?;
            let mut counts = vec![(0u64, 0u64); n as usize];
            for row in &rows {
                let (bucket, steps, errors): (i64, i64, i64) = (
                    row.get(0).map_err(ReadError::from)?,
                    row.get(1).map_err(ReadError::from)?,
                    row.get(2).map_err(ReadError::from)?,
                );
                let slot = usize::try_from(bucket.clamp(0, n - 1)).unwrap_or(0);
                counts[slot].0 += u64::try_from(steps).unwrap_or(0);
                counts[slot].1 += u64::try_from(errors).unwrap_or(0);
            }
            Ok::<_, ReadError>(counts)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_filter_has_its_statement() {
        let with = |state, name: Option<&str>| TaskFilter {
            state,
            name: name.map(str::to_string),
            ..TaskFilter::default()
        };
        assert_eq!(plan(&with(None, None)), Plan::Tasks);
        assert_eq!(plan(&with(Some(State::Pending), Some("a"))), Plan::Pending);
        assert_eq!(plan(&with(Some(State::Error), None)), Plan::ByState);
        assert_eq!(plan(&with(Some(State::Error), Some("a"))), Plan::ByState);
        assert_eq!(plan(&with(Some(State::Complete), None)), Plan::ByState);
        assert_eq!(
            plan(&with(Some(State::Complete), Some("a"))),
            Plan::ByTemplate
        );
        assert_eq!(plan(&with(None, Some("a"))), Plan::ByTemplate);
    }
}
