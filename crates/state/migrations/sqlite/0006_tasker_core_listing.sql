-- Indexes for listing tasks for people (src/listing.rs, src/sql/sqlite/listing.rs), the same
-- as migrations/postgres/0007_tasker_core_listing.sql, which says why, plus the tasks not
-- complete by id (PostgreSQL has Tasker's idx_tasks_active_operations for that; here
-- `complete` is NOT NULL): a `pending` filter reads them newest first. The statements repeat
-- each partial index's predicate to the letter (SQLite uses a partial index only then).
-- IF NOT EXISTS.
CREATE INDEX IF NOT EXISTS tasker_core_task_transitions_head
    ON tasker_task_transitions (to_state, task_id) WHERE most_recent;
CREATE INDEX IF NOT EXISTS tasker_core_tasks_by_template
    ON tasker_tasks (named_task_id, task_id);
CREATE INDEX IF NOT EXISTS tasker_core_tasks_unfinished_by_id
    ON tasker_tasks (task_id) WHERE complete = false;
