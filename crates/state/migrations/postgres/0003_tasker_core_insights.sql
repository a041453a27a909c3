-- Indexes for the insights queries (src/insights.rs, src/sql/postgres/insights.rs). Additive
-- like 0002: nothing of Tasker's is altered, and every statement is IF NOT EXISTS.
--
-- The slowest-steps and slowest-tasks queries, and the analytics counts of what finished in a
-- period, all start from "the rows whose most recent transition is complete or error, finished
-- at or after some time". Without these indexes that is a scan of the whole transitions table
-- (every row of every history); with them it is a range of one small index that also carries
-- the join key and the state (INCLUDE), so the transitions' heap is not read. On 1,000,000
-- steps of which a day's worth (33,000) finished in the last 24 hours, the default slowest-steps
-- query took 0.21-0.29 s without them and 0.05-0.07 s with (benches/insights_scale.rs).
--
-- Cost to writers: an entry is added only when a complete or error transition is inserted
-- (partial index); flipping most_recent off an older row adds nothing. One entry per finished
-- task or step.
--
-- Cost of creating them: on a database that already holds a long Tasker history, the first
-- engine to start after upgrading builds them inside the migration transaction, which blocks
-- writes to the two transitions tables while it runs (seconds per few million rows). To avoid
-- that pause, create them beforehand with CREATE INDEX CONCURRENTLY and the same names and
-- definitions; IF NOT EXISTS then finds them.
CREATE INDEX IF NOT EXISTS tasker_core_step_transitions_finished
    ON tasker_workflow_step_transitions (created_at) INCLUDE (workflow_step_id, to_state)
    WHERE most_recent AND to_state IN ('complete', 'error');
CREATE INDEX IF NOT EXISTS tasker_core_task_transitions_finished
    ON tasker_task_transitions (created_at) INCLUDE (task_id, to_state)
    WHERE most_recent AND to_state IN ('complete', 'error');
