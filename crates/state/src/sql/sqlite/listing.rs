//! SQLite's text of the listing statements (`sql/listing.rs` says what each returns and when
//! each is used). Text only.
//!
//! As PostgreSQL's, and the statements by state and by template name the index they read
//! (INDEXED BY: SQLite fails the statement rather than pick another plan); each WHERE
//! repeats its partial index's predicate to the letter (migrations/sqlite/0006).

use super::SqliteDb;
use crate::sql::listing::{ListSql, Listing};

/// The columns of a listed task, from `t` (the task), `nt`, `ns` and `tt` (its most recent
/// transition, if any).
macro_rules! columns {
    () => {
        "SELECT t.task_id, ns.name, nt.name, nt.version, tt.to_state, t.created_at, \
                COALESCE(tt.created_at, t.created_at) "
    };
}

/// The template and namespace of task `t`.
macro_rules! names {
    () => {
        "JOIN tasker_named_tasks nt ON nt.named_task_id = t.named_task_id \
         JOIN tasker_task_namespaces ns ON ns.task_namespace_id = nt.task_namespace_id "
    };
}

/// Task `t`'s most recent transition, if any.
macro_rules! head {
    () => {
        "LEFT JOIN tasker_task_transitions tt ON tt.task_id = t.task_id AND tt.most_recent "
    };
}

/// The filters other than the keyset's, for `tasks`, `by_state` and `pending`.
macro_rules! filters {
    () => {
        "AND (?2 IS NULL OR COALESCE(tt.to_state, 'pending') = ?2) \
         AND (?3 IS NULL OR ns.name = ?3) \
         AND (?4 IS NULL OR nt.name = ?4) \
         AND t.created_at >= ?5 "
    };
}

impl Listing for SqliteDb {
    const LIST: ListSql = ListSql {
        tasks: concat!(
            columns!(),
            "FROM tasker_tasks t ",
            names!(),
            head!(),
            "WHERE t.task_id < ?1 ",
            filters!(),
            "ORDER BY t.task_id DESC LIMIT ?6"
        ),
        by_state: concat!(
            columns!(),
            "FROM tasker_task_transitions tt INDEXED BY tasker_core_task_transitions_head \
             JOIN tasker_tasks t ON t.task_id = tt.task_id ",
            names!(),
            "WHERE most_recent AND tt.to_state = ?2 AND tt.task_id < ?1 ",
            filters!(),
            "ORDER BY tt.task_id DESC LIMIT ?6"
        ),
        pending: concat!(
            columns!(),
            // Not INDEXED BY: SQLite finds no plan with it here (the partial index's
            // predicate is not matched through the join), and without it picks that index.
            "FROM tasker_tasks t ",
            names!(),
            head!(),
            "WHERE complete = false AND t.task_id < ?1 ",
            filters!(),
            "ORDER BY t.task_id DESC LIMIT ?6"
        ),
        templates: "SELECT nt.named_task_id FROM tasker_named_tasks nt \
                    JOIN tasker_task_namespaces ns ON ns.task_namespace_id = nt.task_namespace_id \
                    WHERE (?1 IS NULL OR ns.name = ?1) AND (?2 IS NULL OR nt.name = ?2)",
        of_template: concat!(
            columns!(),
            "FROM tasker_tasks t INDEXED BY tasker_core_tasks_by_template ",
            names!(),
            head!(),
            "WHERE t.named_task_id = ?3 AND t.task_id < ?1 \
               AND (?2 IS NULL OR COALESCE(tt.to_state, 'pending') = ?2) \
               AND t.created_at >= ?4 \
             ORDER BY t.task_id DESC LIMIT ?5"
        ),
        // Not INDEXED BY: a reader opened read-only (the CLI) does not migrate, and on a file
        // an older tasker-core wrote the hint would fail every `since`; the ORDER BY and the
        // LIMIT make SQLite read tasker_core_tasks_by_creation (migration 0007) where it exists.
        created_since: "SELECT task_id FROM tasker_tasks \
                        WHERE created_at >= ?1 ORDER BY created_at, task_id LIMIT ?2",
        // CROSS JOIN: the ids first, each task looked up by its primary key, then sorted.
        in_set: concat!(
            columns!(),
            "FROM json_each(?7) AS s CROSS JOIN tasker_tasks t ON t.task_id = s.value ",
            names!(),
            head!(),
            // `pending` trusts Tasker's `complete` flag, as the `pending` statement does.
            "WHERE t.task_id < ?1 AND (?2 IS NOT 'pending' OR complete = false) ",
            filters!(),
            "ORDER BY t.task_id DESC LIMIT ?6"
        ),
        task_of_step: "SELECT task_id FROM tasker_workflow_steps WHERE workflow_step_id = ?1",
        // The WHEREs are the analytics' (sqlite/insights.rs), so the same partial indexes on
        // the finished transitions serve them (named for the tasks': SQLite otherwise took
        // the listing's head index, a whole state's range); the time in microseconds as
        // insights.rs computes it from the DATETIME text.
        throughput: "SELECT min(((CAST(strftime('%s', c.at) AS INTEGER) * 1000000 \
                                 + CAST(substr(substr(c.at, 21) || '000000', 1, 6) AS INTEGER)) \
                                 - ?3) / ?4, ?5 - 1) AS bucket, \
                            sum(c.steps), sum(c.errors) \
                     FROM (SELECT f.created_at AS at, 1 AS steps, 0 AS errors \
                           FROM tasker_workflow_step_transitions f \
                           WHERE f.most_recent AND f.to_state IN ('complete', 'error') \
                             AND f.to_state = 'complete' \
                             AND f.created_at >= ?1 AND f.created_at <= ?2 \
                           UNION ALL \
                           SELECT f.created_at, 0, 1 FROM tasker_task_transitions f \
                           INDEXED BY tasker_core_task_transitions_finished \
                           WHERE f.most_recent AND f.to_state IN ('complete', 'error') \
                             AND f.to_state = 'error' \
                             AND f.created_at >= ?1 AND f.created_at <= ?2) c \
                     GROUP BY 1",
    };
}
