//! SQL text both databases run to the letter, as macros that expand to string literals so
//! each dialect's `concat!` can splice them into its statements (`sqlite/insights.rs`,
//! `postgres/insights.rs`). Text only; what differs (time arithmetic, parameters, filters)
//! stays with each database.

/// Whole statements' and fragments' shared start: a count of all rows, then one per state
/// (`tr` is the most_recent transition, none: pending).
macro_rules! state_counts {
    () => {
        "SELECT count(*),
       count(*) FILTER (WHERE tr.to_state IS NULL OR tr.to_state = 'pending'),
       count(*) FILTER (WHERE tr.to_state = 'in_progress'),
       count(*) FILTER (WHERE tr.to_state = 'complete'),
       count(*) FILTER (WHERE tr.to_state = 'error'),
       count(*) FILTER (WHERE tr.to_state = 'cancelled'),
       count(*) FILTER (WHERE tr.to_state = 'resolved_manually')"
    };
}

pub(crate) use state_counts;

/// Tasks by current state.
pub(crate) const TASK_COUNTS: &str = concat!(
    "\n",
    state_counts!(),
    "
FROM tasker_tasks t
LEFT JOIN tasker_task_transitions tr ON tr.task_id = t.task_id AND tr.most_recent"
);

/// Steps by current state and retries, then the start of the backoff test (each database
/// adds its own time arithmetic).
macro_rules! step_counts {
    () => {
        concat!(
            $crate::sql::insights_sql::state_counts!(),
            ",
       count(*) FILTER (WHERE tr.to_state = 'error' AND ws.retryable IS TRUE
                          AND coalesce(ws.attempts, 0) < coalesce(ws.retry_limit, 3)),
       count(*) FILTER (WHERE tr.to_state = 'error'
                          AND coalesce(ws.attempts, 0) >= coalesce(ws.retry_limit, 3)),
       count(*) FILTER (WHERE (tr.to_state IS NULL OR tr.to_state IN ('pending', 'error'))
                          AND ws.processed IS NOT TRUE AND ws.in_process IS NOT TRUE
                          AND ws.retryable IS TRUE
                          AND coalesce(ws.attempts, 0) < coalesce(ws.retry_limit, 3)
                          AND ("
        )
    };
}
pub(crate) use step_counts;

/// The named tasks that have tasks, and the first columns of the analytics totals.
///
/// Neither reads the whole tasks table (the dashboard's overview runs this once per chart
/// interval): a template "has tasks" if one probe of the tasks' index by template finds one
/// (a correlated subquery with LIMIT is run per template, never turned into a join over
/// every task), and the active tasks (pending, in progress) are among the tasks not complete,
/// read from the partial index of those (Tasker's `idx_tasks_active_operations` on
/// PostgreSQL, with this predicate): a task is marked complete only when its state is. Each
/// one's state is a lookup per task, not a join (with merge joins allowed, the planner read
/// every transition to join them).
macro_rules! used_named_tasks {
    () => {
        "
used_named_tasks AS (
    SELECT nt.name, tn.name AS namespace
    FROM tasker_named_tasks nt
    JOIN tasker_task_namespaces tn ON tn.task_namespace_id = nt.task_namespace_id
    WHERE (SELECT t.task_id FROM tasker_tasks t
            WHERE t.named_task_id = nt.named_task_id LIMIT 1) IS NOT NULL
)
SELECT
    (SELECT count(*) FROM tasker_tasks t
      WHERE (t.complete = false OR t.complete IS NULL)
        AND coalesce((SELECT tr.to_state FROM tasker_task_transitions tr
                       WHERE tr.task_id = t.task_id AND tr.most_recent), 'pending')
            IN ('pending', 'in_progress')),
    (SELECT count(DISTINCT namespace) FROM used_named_tasks),
"
    };
}
pub(crate) use used_named_tasks;

/// The names of the top steps, joined for those rows only.
macro_rules! slowest_steps_names {
    () => {
        "
)
SELECT top.workflow_step_id, top.task_id, ns.name, nt.name, tn.name, nt.version, top.micros,
       top.attempts, top.created_at, top.completed_at, top.retryable, top.to_state
FROM top
JOIN tasker_named_steps ns ON ns.named_step_id = top.named_step_id
JOIN tasker_tasks t ON t.task_id = top.task_id
JOIN tasker_named_tasks nt ON nt.named_task_id = t.named_task_id
JOIN tasker_task_namespaces tn ON tn.task_namespace_id = nt.task_namespace_id
ORDER BY top.micros DESC, top.workflow_step_id"
    };
}
pub(crate) use slowest_steps_names;

/// The names a step group is keyed by.
macro_rules! step_group_names {
    () => {
        "JOIN tasker_tasks t ON t.task_id = s.task_id
JOIN tasker_named_tasks nt ON nt.named_task_id = t.named_task_id
JOIN tasker_task_namespaces tn ON tn.task_namespace_id = nt.task_namespace_id
JOIN tasker_named_steps ns ON ns.named_step_id = s.named_step_id
"
    };
}
pub(crate) use step_group_names;

/// The top tasks' steps counted, and their names joined, for those rows only.
macro_rules! slowest_tasks_counts {
    () => {
        concat!(
            "
),
counts AS (
    SELECT ws.task_id, count(*) AS steps,
           count(*) FILTER (WHERE tr.to_state = 'complete') AS completed,
           count(*) FILTER (WHERE tr.to_state = 'error') AS errors
    FROM tasker_workflow_steps ws
    LEFT JOIN tasker_workflow_step_transitions tr
           ON tr.workflow_step_id = ws.workflow_step_id AND tr.most_recent
    WHERE ws.task_id IN (SELECT task_id FROM top)
    GROUP BY ws.task_id
)",
            $crate::sql::insights_sql::slowest_tasks_rows!()
        )
    };
}
pub(crate) use slowest_tasks_counts;

/// The top tasks (`top`) with their names and step counts (`counts`), slowest first.
macro_rules! slowest_tasks_rows {
    () => {
        "
SELECT top.task_id, nt.name, tn.name, nt.version, top.micros,
       coalesce(c.steps, 0), coalesce(c.completed, 0), coalesce(c.errors, 0),
       top.created_at, top.completed_at, top.initiator, top.source_system, top.to_state
FROM top
JOIN tasker_named_tasks nt ON nt.named_task_id = top.named_task_id
JOIN tasker_task_namespaces tn ON tn.task_namespace_id = nt.task_namespace_id
LEFT JOIN counts c ON c.task_id = top.task_id
ORDER BY top.micros DESC, top.task_id"
    };
}
pub(crate) use slowest_tasks_rows;
