-- Indexes for the insights queries (src/insights.rs, src/sql/sqlite/insights.rs), the same
-- two as migrations/postgres/0003_tasker_core_insights.sql: the rows whose most recent
-- transition is complete or error, by the time they finished, so "finished since" reads a
-- range of a small index instead of every transition. Partial, so a writer adds an entry only
-- when it inserts a complete or error transition. Every statement is IF NOT EXISTS.
CREATE INDEX IF NOT EXISTS tasker_core_step_transitions_finished
    ON tasker_workflow_step_transitions (created_at, workflow_step_id, to_state)
    WHERE most_recent AND to_state IN ('complete', 'error');
CREATE INDEX IF NOT EXISTS tasker_core_task_transitions_finished
    ON tasker_task_transitions (created_at, task_id, to_state)
    WHERE most_recent AND to_state IN ('complete', 'error');
