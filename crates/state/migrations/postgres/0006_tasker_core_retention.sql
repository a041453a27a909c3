-- An index for retention (src/retention.rs, src/sql/retention.rs): the tasks whose most
-- recent transition is one retention may delete (complete, cancelled, resolved_manually),
-- by the time they got there, so a purge reads its batch, oldest first, from the start of
-- one small index instead of the whole history, and with no table statistics needed (the
-- plan is an index range scan under LIMIT). Additive like 0002: IF NOT EXISTS, nothing of
-- Tasker's altered.
--
-- Cost to writers: an entry when such a transition is inserted (partial index).
-- Cost of creating it on a long history: as 0003 (create it beforehand with CREATE INDEX
-- CONCURRENTLY and the same name and definition to avoid the pause).
CREATE INDEX IF NOT EXISTS tasker_core_task_transitions_retention
    ON tasker_task_transitions (created_at) INCLUDE (task_id, to_state)
    WHERE most_recent AND to_state IN ('complete', 'cancelled', 'resolved_manually');
