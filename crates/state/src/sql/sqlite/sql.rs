//! The SQLite text of the statements the shared store body runs (`store.rs`, `read.rs`,
//! `register.rs`; what each returns: [`Statements`]). Text only: no logic.

use crate::sql::dialect::{RegisterSql, RowsIn, Statements, TaskReads};

/// Rows a `register_template` statement binds at once (four parameters each): at most 4,002
/// parameters, well under SQLite's 32,766, and 10 statements of each kind for 10,000 steps.
const VALUES_ROWS: usize = 1000;

/// `row` (a `VALUES` row of anonymous `?` parameters) 1,000 times, comma-separated, as one
/// literal: the statement text stays `'static` and is prepared once per connection.
/// Anonymous only: sqlx binds its arguments in order to the anonymous parameters (after an
/// explicit `?1` it would bind the first one again), so a statement takes its other values
/// in a one-row `p` written before the rows.
/// `(VALUES …) AS v`: [`VALUES_ROWS`] rows of four parameters, columns `column1`…`column4`.
macro_rules! bound_rows {
    () => {
        concat!("(VALUES ", values_1000!("(?, ?, ?, ?)"), ") AS v")
    };
}

/// The start of the links' insert (`insert_links`, `insert_new_links`): the named task and
/// now, then the bound rows, padding skipped; each statement ends it.
macro_rules! links_bound {
    () => {
        concat!(
            "INSERT INTO tasker_named_tasks_named_steps \
             (named_task_id, named_step_id, skippable, default_retryable, \
              default_retry_limit, created_at, updated_at) \
             SELECT p.task, v.column1, v.column2, v.column3, v.column4, p.now, p.now \
             FROM (SELECT ? AS task, ? AS now) AS p, ",
            bound_rows!(),
            " WHERE v.column1 IS NOT NULL"
        )
    };
}

macro_rules! values_1000 {
    ($row:literal) => {
        values_10!(values_10!(values_10!($row)))
    };
}

macro_rules! values_10 {
    ($row:expr) => {
        concat!(
            $row, ",", $row, ",", $row, ",", $row, ",", $row, ",", $row, ",", $row, ",", $row, ",",
            $row, ",", $row
        )
    };
}

pub(super) const STATEMENTS: Statements = Statements {
    task_state: "SELECT t.task_id, tr.to_state FROM tasker_tasks t \
                 LEFT JOIN tasker_task_transitions tr \
                   ON tr.task_id = t.task_id AND tr.most_recent \
                 WHERE t.task_id = ?1",
    task_with_identity: "SELECT task_id FROM tasker_tasks WHERE identity_hash = ?1",
    read: TaskReads {
        task: "SELECT t.named_task_id, ns.name, nt.name, nt.version, t.context, t.initiator, \
                      t.source_system, t.reason, t.tags, t.complete, t.requested_at, \
                      t.created_at, t.updated_at, COALESCE(p.priority, 0) \
               FROM tasker_tasks t \
               JOIN tasker_named_tasks nt ON nt.named_task_id = t.named_task_id \
               JOIN tasker_task_namespaces ns ON ns.task_namespace_id = nt.task_namespace_id \
               LEFT JOIN tasker_core_task_priorities p ON p.task_id = t.task_id \
               WHERE t.task_id = ?1",
        transitions: "SELECT task_id, from_state, to_state, metadata, sort_key, most_recent, \
                             created_at \
                      FROM tasker_task_transitions WHERE task_id = ?1 ORDER BY sort_key",
        steps: "SELECT ws.workflow_step_id, ns.name, ws.retryable, ws.retry_limit, \
                       ws.in_process, ws.processed, ws.processed_at, ws.attempts, \
                       ws.last_attempted_at, ws.backoff_request_seconds, ws.results, \
                       ws.skippable, ws.created_at, ws.updated_at \
                FROM tasker_workflow_steps ws \
                JOIN tasker_named_steps ns ON ns.named_step_id = ws.named_step_id \
                WHERE ws.task_id = ?1 ORDER BY ws.workflow_step_id",
        step_transitions: "SELECT tr.workflow_step_id, tr.from_state, tr.to_state, \
                                  tr.metadata, tr.sort_key, tr.most_recent, tr.created_at \
                           FROM jsonb_each(?1) AS j \
                           JOIN tasker_workflow_step_transitions tr \
                             ON tr.workflow_step_id = j.value \
                           ORDER BY tr.workflow_step_id, tr.sort_key",
        edges: "SELECT e.from_step_id, e.to_step_id FROM jsonb_each(?1) AS j \
                JOIN tasker_workflow_step_edges e ON e.to_step_id = j.value ORDER BY e.id",
    },
    task_heads: "SELECT t.task_id, tr.to_state, tr.sort_key FROM jsonb_each(?1) AS j \
                 JOIN tasker_tasks t ON t.task_id = j.value \
                 LEFT JOIN tasker_task_transitions tr \
                   ON tr.task_id = t.task_id AND tr.most_recent",
    step_heads: "SELECT ws.workflow_step_id, ws.task_id, tr.to_state, tr.sort_key \
                 FROM jsonb_each(?1) AS j \
                 JOIN tasker_workflow_steps ws ON ws.workflow_step_id = j.value \
                 LEFT JOIN tasker_workflow_step_transitions tr \
                   ON tr.workflow_step_id = ws.workflow_step_id AND tr.most_recent",
    register: RegisterSql {
        find_namespace: "SELECT task_namespace_id FROM tasker_task_namespaces WHERE name = ?1",
        insert_namespace: "INSERT INTO tasker_task_namespaces (name, created_at, updated_at) \
                           VALUES (?1, ?2, ?2) ON CONFLICT DO NOTHING \
                           RETURNING task_namespace_id",
        insert_systems: "INSERT INTO tasker_dependent_systems (name, created_at, updated_at) \
                         SELECT j.value, ?2, ?2 FROM json_each(?1) AS j \
                         WHERE NOT EXISTS (SELECT 1 FROM tasker_dependent_systems d \
                                           WHERE d.name = j.value) \
                         ON CONFLICT DO NOTHING",
        find_systems: "SELECT json_group_array(json_array(j.key, d.dependent_system_id)) \
                       FROM json_each(?1) AS j \
                       JOIN tasker_dependent_systems d ON d.name = j.value",
        find_named_task: "SELECT named_task_id FROM tasker_named_tasks \
                          WHERE task_namespace_id = ?1 AND name = ?2 AND version = ?3",
        insert_named_task: "INSERT INTO tasker_named_tasks \
                            (name, description, task_namespace_id, version, configuration, \
                             created_at, updated_at) \
                            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT DO NOTHING \
                            RETURNING named_task_id",
        rows_in: RowsIn::Values(VALUES_ROWS),
        // The rows are bound, not read out of JSON text: `json_each` and `->>` re-parsed each
        // row's object for every field they read, ~740 million instructions of the ~1,235
        // million SQLite ran for two registrations of a 10,000-step template (callgrind).
        // Unused rows of the last chunk are NULL and skipped.
        insert_named_steps: concat!(
            "INSERT INTO tasker_named_steps \
             (dependent_system_id, name, description, created_at, updated_at) \
             SELECT v.column2, v.column3, v.column4, p.now, p.now \
             FROM (SELECT ? AS now) AS p, ",
            bound_rows!(),
            " WHERE v.column3 IS NOT NULL AND NOT EXISTS \
               (SELECT 1 FROM tasker_named_steps ns \
                WHERE ns.dependent_system_id = v.column2 AND ns.name = v.column3) \
             ON CONFLICT DO NOTHING"
        ),
        find_named_steps: concat!(
            "SELECT json_group_array(json_array(v.column1, ns.named_step_id)) FROM ",
            bound_rows!(),
            " JOIN tasker_named_steps ns \
                ON ns.dependent_system_id = v.column2 AND ns.name = v.column3"
        ),
        insert_links: concat!(
            links_bound!(),
            " AND NOT EXISTS \
               (SELECT 1 FROM tasker_named_tasks_named_steps nn \
                WHERE nn.named_task_id = p.task AND nn.named_step_id = v.column1) \
             ON CONFLICT DO NOTHING"
        ),
        insert_new_links: concat!(links_bound!(), " ON CONFLICT DO NOTHING"),
    },
    begin_snapshot: None,
    begin_write: Some("BEGIN IMMEDIATE"),
};

#[cfg(test)]
mod tests {
    use super::{STATEMENTS, VALUES_ROWS};

    /// The row count is written twice, as [`VALUES_ROWS`] and in `values_1000!`, and sqlx
    /// says nothing when they differ: it leaves unbound parameters NULL (rows skipped as
    /// padding) and drops extra arguments.
    #[test]
    fn register_statements_hold_values_rows_rows() {
        let r = &STATEMENTS.register;
        let anonymous = |sql: &str| sql.matches('?').count();
        assert_eq!(anonymous(r.insert_named_steps), 1 + 4 * VALUES_ROWS);
        assert_eq!(anonymous(r.find_named_steps), 4 * VALUES_ROWS);
        assert_eq!(anonymous(r.insert_links), 2 + 4 * VALUES_ROWS);
        assert_eq!(anonymous(r.insert_new_links), 2 + 4 * VALUES_ROWS);
    }
}
