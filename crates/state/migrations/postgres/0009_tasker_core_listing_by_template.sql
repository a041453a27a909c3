-- The second index for listing tasks (see 0007, which explains both): a template's tasks by
-- id, for the namespace and name filters. In a migration of its own so that its build, which
-- blocks writes to tasker_tasks, holds no lock on another table meanwhile (0007 commits
-- first). Additive: IF NOT EXISTS, nothing of Tasker's altered.
CREATE INDEX IF NOT EXISTS tasker_core_tasks_by_template
    ON tasker_tasks (named_task_id, task_id);
