-- An index for retention (src/retention.rs, src/sql/sqlite/retention.rs), the same as
-- migrations/postgres/0006_tasker_core_retention.sql: the tasks whose most recent transition
-- is one retention may delete, by the time they got there, so a purge reads its batch from
-- the start of one small index. The purge's WHERE repeats this predicate to the letter
-- (SQLite uses a partial index only then). IF NOT EXISTS.
CREATE INDEX IF NOT EXISTS tasker_core_task_transitions_retention
    ON tasker_task_transitions (created_at, task_id, to_state)
    WHERE most_recent AND to_state IN ('complete', 'cancelled', 'resolved_manually');
