-- A task's priority (`submit_task(priority:)`), which Tasker's tables have no column for.
-- Additive and IF NOT EXISTS: nothing of Tasker's is altered.
--
-- A row only for a task submitted with a priority other than 0 (the default), inserted in
-- the batch's script right after the task (`write.rs`), so a submission costs no extra round
-- trip. Read back with the task: a task recovered after a restart keeps its priority.
-- Deleted with its task (ON DELETE CASCADE; the store opens with foreign keys on).
CREATE TABLE IF NOT EXISTS tasker_core_task_priorities (
    task_id INTEGER PRIMARY KEY
        REFERENCES tasker_tasks (task_id) ON DELETE CASCADE,
    priority INTEGER NOT NULL
);
