//! PostgreSQL's text of the listing statements (`sql/listing.rs` says what each returns).
//! Text only.

use super::PgDb;
use crate::sql::listing::{ListSql, Listing};

impl Listing for PgDb {
    const LIST: ListSql = ListSql {
        // The primary key walked backwards from `$1`; name, namespace and current state
        // looked up per task by unique indexes (the most_recent transition's partial one),
        // so a page's cost does not depend on the table's size or its statistics.
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
        task_of_step: "SELECT task_id FROM tasker_workflow_steps WHERE workflow_step_id = $1",
    };
}
