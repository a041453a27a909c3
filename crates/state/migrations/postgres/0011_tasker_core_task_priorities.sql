-- A task's priority (`submit_task(priority:)`), which Tasker's tables have no column for.
-- Additive and IF NOT EXISTS, like every tasker-core migration: nothing of Tasker's is
-- altered.
--
-- A row only for a task submitted with a priority other than 0 (the default), inserted by
-- the statement that inserts the task (`write.rs`), so a task never exists without it and a
-- submission costs no extra round trip. Read back with the task (`sql.rs`, `read.task`):
-- a task recovered after a restart, or claimed by another process, keeps its priority.
-- Deleted with its task (ON DELETE CASCADE: retention, or an app deleting Tasker rows).
CREATE TABLE IF NOT EXISTS tasker_core_task_priorities (
    task_id bigint PRIMARY KEY
        REFERENCES tasker_tasks (task_id) ON DELETE CASCADE,
    priority integer NOT NULL
);
