-- The tasks by creation time, for the listing's `since` filter: the same index as
-- migrations/postgres/0010_tasker_core_listing_by_creation.sql, which says why. IF NOT EXISTS.
CREATE INDEX IF NOT EXISTS tasker_core_tasks_by_creation
    ON tasker_tasks (created_at, task_id);
