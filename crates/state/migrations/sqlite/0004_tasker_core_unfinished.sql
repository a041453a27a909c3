-- An index for listing the tasks not finished (src/sql/store.rs, UNFINISHED_TASKS), which an
-- engine does at start to take them over (`recover`). IF NOT EXISTS.
--
-- A task not finished is pending (with or without a transition: Tasker writes none for a new
-- task) or in_progress, so its transitions alone cannot find it; but its `complete` column is
-- false (only a complete task has it true), and on a store of finished work almost every task
-- has it true. Without this index the listing read every task and probed its transitions (0.4
-- to 1.3 s at 200,000 tasks, growing with the history, on the start path of every process);
-- with it, the tasks not complete, in creation order. PostgreSQL has Tasker's own index for
-- this (`idx_tasks_completion_status_created`, migrations/postgres/0004).
--
-- Cost to writers: an entry when a task is inserted not complete, removed when it completes.
CREATE INDEX IF NOT EXISTS tasker_core_tasks_unfinished
    ON tasker_tasks (created_at, task_id)
    WHERE complete = false;
