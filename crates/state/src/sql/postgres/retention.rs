//! PostgreSQL's text of the retention statements (`sql/retention.rs` says what each
//! returns). Text only. Id lists arrive as `bigint[]` and are matched with `= ANY`, which
//! each table's index on the column serves.

use super::PgDb;
use crate::sql::retention::{PurgeSql, Retention};

impl Retention for PgDb {
    const PURGE: PurgeSql = PurgeSql {
        begin: "BEGIN",
        // Without statistics (autovacuum off) the planner takes an id list of a few hundred
        // for the whole table and seq-scans it, and reads every expired row of the index to
        // sort them; local to the purge's transaction, these leave it the index plans (each
        // statement here has its index, so none is left without a plan).
        setup: &[
            "SET LOCAL enable_seqscan = off",
            "SET LOCAL enable_bitmapscan = off",
        ],
        // Implies the predicate of `tasker_core_task_transitions_retention` (migration 0006),
        // whose order is the ORDER BY: the first rows of that index, nothing else read.
        expired: "SELECT task_id, to_state FROM tasker_task_transitions \
                  WHERE most_recent AND to_state IN ('complete', 'cancelled', 'resolved_manually') \
                    AND created_at < $1 \
                  ORDER BY created_at LIMIT $2",
        // By the ids an export hook saw; the task_id index serves it.
        expired_among: "SELECT task_id, to_state FROM tasker_task_transitions \
                        WHERE task_id = ANY($2) AND most_recent \
                          AND to_state IN ('complete', 'cancelled', 'resolved_manually') \
                          AND created_at < $1",
        // Another engine purging now holds its batch's rows: skip them rather than wait and
        // delete (and count) them twice.
        lock: "SELECT task_id FROM tasker_tasks WHERE task_id = ANY($1) \
               FOR UPDATE SKIP LOCKED",
        steps: "SELECT workflow_step_id FROM tasker_workflow_steps WHERE task_id = ANY($1)",
        step_states: "SELECT to_state, COUNT(*) FROM tasker_workflow_step_transitions \
                      WHERE workflow_step_id = ANY($1) AND most_recent GROUP BY to_state",
        by_steps: &[
            "DELETE FROM tasker_workflow_step_transitions WHERE workflow_step_id = ANY($1)",
            "DELETE FROM tasker_workflow_step_edges WHERE to_step_id = ANY($1)",
            "DELETE FROM tasker_workflow_step_edges WHERE from_step_id = ANY($1)",
        ],
        by_tasks: &[
            "DELETE FROM tasker_workflow_steps WHERE task_id = ANY($1)",
            "DELETE FROM tasker_task_transitions WHERE task_id = ANY($1)",
            "DELETE FROM tasker_task_annotations WHERE task_id = ANY($1)",
            // ON DELETE CASCADE would do it; said here so the purge does not depend on it.
            "DELETE FROM tasker_core_task_claims WHERE task_id = ANY($1)",
            "DELETE FROM tasker_tasks WHERE task_id = ANY($1)",
        ],
    };
}
