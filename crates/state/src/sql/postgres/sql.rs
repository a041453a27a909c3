//! The PostgreSQL text of the statements the shared store body runs (`store.rs`, `read.rs`,
//! `register.rs`; what each returns: [`Statements`]). Ids are read as `bigint` and JSON as
//! text, so both databases' rows decode alike. Text only: no logic.

use crate::sql::dialect::{RegisterSql, RowsIn, Statements, TaskReads};

/// The start of the links' insert (`insert_links`, `insert_new_links`); each statement ends it.
macro_rules! links_from_json {
    () => {
        "INSERT INTO tasker_named_tasks_named_steps \
         (named_task_id, named_step_id, skippable, default_retryable, \
          default_retry_limit, created_at, updated_at) \
         SELECT $1, r.step, r.skippable, r.retryable, r.retry_limit, $3, $3 \
         FROM json_to_recordset($2::json) \
           AS r(step integer, skippable boolean, retryable boolean, retry_limit integer)"
    };
}

pub(super) const STATEMENTS: Statements = Statements {
    task_state: "SELECT t.task_id, tr.to_state FROM tasker_tasks t \
                 LEFT JOIN tasker_task_transitions tr \
                   ON tr.task_id = t.task_id AND tr.most_recent \
                 WHERE t.task_id = $1",
    task_with_identity: "SELECT task_id FROM tasker_tasks WHERE identity_hash = $1",
    read: TaskReads {
        task: "SELECT t.named_task_id::bigint, ns.name, nt.name, nt.version, t.context::text, \
                      t.initiator, t.source_system, t.reason, t.tags::text, t.complete, \
                      t.requested_at, t.created_at, t.updated_at, COALESCE(p.priority, 0) \
               FROM tasker_tasks t \
               JOIN tasker_named_tasks nt ON nt.named_task_id = t.named_task_id \
               JOIN tasker_task_namespaces ns ON ns.task_namespace_id = nt.task_namespace_id \
               LEFT JOIN tasker_core_task_priorities p ON p.task_id = t.task_id \
               WHERE t.task_id = $1",
        transitions: "SELECT task_id, from_state, to_state, metadata::text, sort_key, \
                             most_recent, created_at \
                      FROM tasker_task_transitions WHERE task_id = $1 ORDER BY sort_key",
        steps: "SELECT ws.workflow_step_id, ns.name, ws.retryable, ws.retry_limit, \
                       ws.in_process, ws.processed, ws.processed_at, ws.attempts, \
                       ws.last_attempted_at, ws.backoff_request_seconds, ws.results::text, \
                       ws.skippable, ws.created_at, ws.updated_at \
                FROM tasker_workflow_steps ws \
                JOIN tasker_named_steps ns ON ns.named_step_id = ws.named_step_id \
                WHERE ws.task_id = $1 ORDER BY ws.workflow_step_id",
        step_transitions: "SELECT tr.workflow_step_id, tr.from_state, tr.to_state, \
                                  tr.metadata::text, tr.sort_key, tr.most_recent, \
                                  tr.created_at \
                           FROM tasker_workflow_step_transitions tr \
                           WHERE tr.workflow_step_id = ANY($1) \
                           ORDER BY tr.workflow_step_id, tr.sort_key",
        edges: "SELECT e.from_step_id, e.to_step_id FROM tasker_workflow_step_edges e \
                WHERE e.to_step_id = ANY($1) ORDER BY e.id",
    },
    task_heads: "SELECT t.task_id, tr.to_state, tr.sort_key FROM tasker_tasks t \
                 LEFT JOIN tasker_task_transitions tr \
                   ON tr.task_id = t.task_id AND tr.most_recent \
                 WHERE t.task_id = ANY($1)",
    step_heads: "SELECT ws.workflow_step_id, ws.task_id, tr.to_state, tr.sort_key \
                 FROM tasker_workflow_steps ws \
                 LEFT JOIN tasker_workflow_step_transitions tr \
                   ON tr.workflow_step_id = ws.workflow_step_id AND tr.most_recent \
                 WHERE ws.workflow_step_id = ANY($1)",
    // The systems and named steps are inserted in key order: two registrations sharing rows
    // then wait for each other's uncommitted rows in one order, never in a deadlock.
    //
    // A named step is looked up by its name, a link by its named step: `+ 0` keeps the
    // dependent system and the named task checks. Every step of a template usually shares
    // both, and with statistics stale the planner probed Tasker's indexes on those columns
    // alone, reading every row of the template per row: 10-12 s per statement for a
    // 10,000-step template.
    register: RegisterSql {
        find_namespace: "SELECT task_namespace_id::bigint FROM tasker_task_namespaces \
                         WHERE name = $1",
        insert_namespace: "INSERT INTO tasker_task_namespaces (name, created_at, updated_at) \
                           VALUES ($1, $2, $2) ON CONFLICT DO NOTHING \
                           RETURNING task_namespace_id::bigint",
        insert_systems: "INSERT INTO tasker_dependent_systems (name, created_at, updated_at) \
                         SELECT j.name, $2, $2 \
                         FROM json_array_elements_text($1::json) AS j(name) \
                         WHERE NOT EXISTS (SELECT 1 FROM tasker_dependent_systems d \
                                           WHERE d.name = j.name) \
                         ORDER BY j.name \
                         ON CONFLICT DO NOTHING",
        find_systems: "SELECT COALESCE(json_agg(json_build_array(j.i - 1, \
                                                         d.dependent_system_id)), '[]')::text \
                       FROM json_array_elements_text($1::json) WITH ORDINALITY AS j(name, i) \
                       JOIN tasker_dependent_systems d ON d.name = j.name",
        find_named_task: "SELECT named_task_id::bigint FROM tasker_named_tasks \
                          WHERE task_namespace_id = $1 AND name = $2 AND version = $3",
        insert_named_task: "INSERT INTO tasker_named_tasks \
                            (name, description, task_namespace_id, version, configuration, \
                             created_at, updated_at) \
                            VALUES ($1, $2, $3, $4, $5::jsonb, $6, $6) \
                            ON CONFLICT DO NOTHING RETURNING named_task_id::bigint",
        rows_in: RowsIn::Json,
        insert_named_steps: "INSERT INTO tasker_named_steps \
                             (dependent_system_id, name, description, created_at, updated_at) \
                             SELECT r.system, r.name, r.description, $2, $2 \
                             FROM json_to_recordset($1::json) \
                               AS r(system integer, name text, description text) \
                             WHERE NOT EXISTS (SELECT 1 FROM tasker_named_steps ns \
                                               WHERE ns.dependent_system_id + 0 = r.system \
                                                 AND ns.name = r.name) \
                             ORDER BY r.system, r.name \
                             ON CONFLICT DO NOTHING",
        find_named_steps: "SELECT COALESCE(json_agg(json_build_array(r.i - 1, \
                                                             ns.named_step_id)), '[]')::text \
                           FROM ROWS FROM (json_to_recordset($1::json) \
                                             AS (system integer, name text)) \
                             WITH ORDINALITY AS r(system, name, i) \
                           JOIN tasker_named_steps ns \
                             ON ns.dependent_system_id + 0 = r.system AND ns.name = r.name",
        insert_links: concat!(
            links_from_json!(),
            " WHERE NOT EXISTS (SELECT 1 FROM tasker_named_tasks_named_steps nn \
                                WHERE nn.named_task_id + 0 = $1 \
                                  AND nn.named_step_id = r.step) \
              ON CONFLICT DO NOTHING"
        ),
        insert_new_links: concat!(links_from_json!(), " ON CONFLICT DO NOTHING"),
    },
    begin_snapshot: Some("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
    begin_write: None,
};
