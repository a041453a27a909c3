//! PostgreSQL's text of the listing statements (`sql/listing.rs` says what each returns and
//! when each is used). Text only.
//!
//! Each filtered statement first takes its page of task ids from one table in a
//! materialized CTE: one index range read newest first under the LIMIT
//! (migrations/postgres/0007, and Tasker's `idx_tasks_active_operations` for the tasks not
//! complete, whose predicate `pending` repeats), the other filters checked per row by
//! lookups on unique indexes. Only then are the page's names and states joined, for those
//! rows. Written as one query with joins, the planner (with no statistics, as after a bulk
//! load on a server without autovacuum) started from the templates and sorted every task of
//! the state or template: 1.2-6.7 s at 1,000,000 tasks. A query on one table with an
//! ORDER BY its index gives and a LIMIT has no such choice.

use super::PgDb;
use crate::sql::listing::{ListSql, Listing};

/// The columns of the tasks in `page` (their `task_id`s), newest first.
macro_rules! page_rows {
    () => {
        ")
SELECT t.task_id, ns.name, nt.name, nt.version, tt.to_state, t.created_at,
       COALESCE(tt.created_at, t.created_at)
FROM page
JOIN tasker_tasks t ON t.task_id = page.task_id
JOIN tasker_named_tasks nt ON nt.named_task_id = t.named_task_id
JOIN tasker_task_namespaces ns ON ns.task_namespace_id = nt.task_namespace_id
LEFT JOIN tasker_task_transitions tt ON tt.task_id = t.task_id AND tt.most_recent
ORDER BY t.task_id DESC"
    };
}

/// The namespace (`$3`) and name (`$4`) filters of the task `t`, by its template.
macro_rules! template_filters {
    () => {
        "
  AND ($3::text IS NULL OR $3 = (SELECT ns.name FROM tasker_named_tasks nt
        JOIN tasker_task_namespaces ns ON ns.task_namespace_id = nt.task_namespace_id
        WHERE nt.named_task_id = t.named_task_id))
  AND ($4::text IS NULL OR $4 = (SELECT nt.name FROM tasker_named_tasks nt
        WHERE nt.named_task_id = t.named_task_id))"
    };
}

/// The current state of the task `t` (its most recent transition's; none: pending).
macro_rules! state_of_t {
    () => {
        "COALESCE((SELECT h.to_state FROM tasker_task_transitions h
                   WHERE h.task_id = t.task_id AND h.most_recent), 'pending')"
    };
}

impl Listing for PgDb {
    const LIST: ListSql = ListSql {
        // The primary key walked backwards; each task's names and state looked up by unique
        // indexes. For the unfiltered list (and a creation time), whose page is the newest
        // tasks.
        tasks: "SELECT t.task_id, ns.name, nt.name, nt.version, tt.to_state, t.created_at, \
                       COALESCE(tt.created_at, t.created_at) \
                FROM tasker_tasks t \
                JOIN tasker_named_tasks nt ON nt.named_task_id = t.named_task_id \
                JOIN tasker_task_namespaces ns ON ns.task_namespace_id = nt.task_namespace_id \
                LEFT JOIN tasker_task_transitions tt ON tt.task_id = t.task_id AND tt.most_recent \
                WHERE t.task_id < $1 \
                  AND ($2::text IS NULL OR COALESCE(tt.to_state, 'pending') = $2) \
                  AND ($3::text IS NULL OR ns.name = $3) \
                  AND ($4::text IS NULL OR nt.name = $4) \
                  AND t.created_at >= $5 \
                ORDER BY t.task_id DESC LIMIT $6",
        by_state: concat!(
            "WITH page AS MATERIALIZED (
SELECT s.task_id FROM tasker_task_transitions s
WHERE s.most_recent AND s.to_state = $2 AND s.task_id < $1
  AND (SELECT t.task_id FROM tasker_tasks t WHERE t.task_id = s.task_id AND t.created_at >= $5",
            template_filters!(),
            ") IS NOT NULL
ORDER BY s.task_id DESC LIMIT $6",
            page_rows!()
        ),
        pending: concat!(
            "WITH page AS MATERIALIZED (
SELECT t.task_id FROM tasker_tasks t
WHERE (t.complete = false OR t.complete IS NULL) AND t.task_id < $1 AND t.created_at >= $5
  AND ",
            state_of_t!(),
            " = $2",
            template_filters!(),
            "
ORDER BY t.task_id DESC LIMIT $6",
            page_rows!()
        ),
        templates:
            "SELECT nt.named_task_id::bigint FROM tasker_named_tasks nt \
                    JOIN tasker_task_namespaces ns ON ns.task_namespace_id = nt.task_namespace_id \
                    WHERE ($1::text IS NULL OR ns.name = $1) AND ($2::text IS NULL OR nt.name = $2)",
        of_template: concat!(
            "WITH page AS MATERIALIZED (
SELECT t.task_id FROM tasker_tasks t
WHERE t.named_task_id = $3 AND t.task_id < $1 AND t.created_at >= $4
  AND ($2::text IS NULL OR ",
            state_of_t!(),
            " = $2)
ORDER BY t.task_id DESC LIMIT $5",
            page_rows!()
        ),
        created_since: "SELECT task_id FROM tasker_tasks WHERE created_at >= $1 \
                        ORDER BY created_at, task_id LIMIT $2",
        // The ids first (a nested loop on the primary key from at most SINCE_SET ids, then
        // a sort of those), never a walk of the primary key filtered by the set. `pending`
        // trusts Tasker's `complete` flag as the `pending` statement does, so a listing
        // answers the same whichever path a page takes.
        in_set: concat!(
            "WITH page AS MATERIALIZED (
SELECT t.task_id FROM unnest($7::int8[]) AS s(id)
JOIN tasker_tasks t ON t.task_id = s.id
WHERE t.task_id < $1 AND t.created_at >= $5
  AND ($2::text IS DISTINCT FROM 'pending' OR t.complete = false OR t.complete IS NULL)
  AND ($2::text IS NULL OR ",
            state_of_t!(),
            " = $2)",
            template_filters!(),
            "
ORDER BY t.task_id DESC LIMIT $6",
            page_rows!()
        ),
        task_of_step: "SELECT task_id FROM tasker_workflow_steps WHERE workflow_step_id = $1",
        // The WHEREs are the analytics' (postgres/insights.rs), so the same partial indexes
        // on the finished transitions serve them.
        throughput:
            "SELECT LEAST(((extract(epoch FROM c.at) * 1000000)::int8 - $3::int8) / $4::int8, \
                            $5::int8 - 1) AS bucket, \
                            sum(c.steps)::int8, sum(c.errors)::int8 \
                     FROM (SELECT f.created_at AS at, 1 AS steps, 0 AS errors \
                           FROM tasker_workflow_step_transitions f \
                           WHERE f.most_recent AND f.to_state IN ('complete', 'error') \
                             AND f.to_state = 'complete' \
                             AND f.created_at >= $1 AND f.created_at <= $2 \
                           UNION ALL \
                           SELECT f.created_at, 0, 1 FROM tasker_task_transitions f \
                           WHERE f.most_recent AND f.to_state IN ('complete', 'error') \
                             AND f.to_state = 'error' \
                             AND f.created_at >= $1 AND f.created_at <= $2) c \
                     GROUP BY 1",
    };
}
