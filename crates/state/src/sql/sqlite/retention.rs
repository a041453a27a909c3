//! SQLite's text of the retention statements (`sql/retention.rs` says what each returns).
//! Text only. Id lists arrive as JSON text and are read with `jsonb_each`.

use super::SqliteDb;
use crate::sql::retention::{PurgeSql, Retention};

impl Retention for SqliteDb {
    const PURGE: PurgeSql = PurgeSql {
        begin: "BEGIN IMMEDIATE",
        setup: &[],
        // The predicate is the one of `tasker_core_task_transitions_retention` (migration
        // 0005) to the letter: SQLite uses a partial index only when the query says so.
        expired: "SELECT task_id, to_state FROM tasker_task_transitions \
                  WHERE most_recent AND to_state IN ('complete', 'cancelled', 'resolved_manually') \
                    AND created_at < ?1 \
                  ORDER BY created_at, task_id LIMIT ?2",
        // By the ids an export hook saw; the task_id index serves it.
        expired_among: "SELECT task_id, to_state FROM tasker_task_transitions \
                        WHERE task_id IN (SELECT value FROM jsonb_each(?2)) AND most_recent \
                          AND to_state IN ('complete', 'cancelled', 'resolved_manually') \
                          AND created_at < ?1",
        // One writer at a time (BEGIN IMMEDIATE took the lock): every selected task is ours.
        lock: "SELECT task_id FROM tasker_tasks \
               WHERE task_id IN (SELECT value FROM jsonb_each(?1))",
        steps: "SELECT workflow_step_id FROM tasker_workflow_steps \
                WHERE task_id IN (SELECT value FROM jsonb_each(?1))",
        step_states: "SELECT to_state, COUNT(*) FROM tasker_workflow_step_transitions \
                      WHERE workflow_step_id IN (SELECT value FROM jsonb_each(?1)) AND most_recent \
                      GROUP BY to_state",
        by_steps: &[
            "DELETE FROM tasker_workflow_step_transitions \
             WHERE workflow_step_id IN (SELECT value FROM jsonb_each(?1))",
            "DELETE FROM tasker_workflow_step_edges \
             WHERE to_step_id IN (SELECT value FROM jsonb_each(?1))",
            "DELETE FROM tasker_workflow_step_edges \
             WHERE from_step_id IN (SELECT value FROM jsonb_each(?1))",
        ],
        by_tasks: &[
            "DELETE FROM tasker_workflow_steps WHERE task_id IN (SELECT value FROM jsonb_each(?1))",
            "DELETE FROM tasker_task_transitions WHERE task_id IN (SELECT value FROM jsonb_each(?1))",
            "DELETE FROM tasker_task_annotations WHERE task_id IN (SELECT value FROM jsonb_each(?1))",
            "DELETE FROM tasker_tasks WHERE task_id IN (SELECT value FROM jsonb_each(?1))",
        ],
    };
}
