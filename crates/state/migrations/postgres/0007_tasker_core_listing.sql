-- Indexes for listing tasks for people (src/listing.rs, src/sql/postgres/listing.rs: the
-- CLI's `tasks` and the dashboard's tasks list), newest first a page at a time. Additive like
-- 0002: IF NOT EXISTS, nothing of Tasker's altered.
--
-- Without them, a filter that few of the newest tasks match (a rare state, a state no task is
-- in, one template among many) walks the tasks' primary key backwards until it has a page:
-- every task when nothing matches, 1.2-1.8 s at 1,000,000 tasks (docs/benchmarks.md). With
-- them each filter reads one index range, newest first, and stops after a page:
--
-- - tasker_core_task_transitions_head: each task's current state (its most recent
--   transition), by state and task id. A state filter reads the range of that state
--   backwards from the keyset's task id.
-- - tasker_core_tasks_by_template: the tasks of a template (named task) by id. A namespace or
--   name filter reads, for each matching template, its newest tasks.
--
-- Cost to writers: one entry per transition inserted (the head index is partial, but a new
-- transition is inserted most recent; flipping the previous one off removes nothing from the
-- index until vacuum) and one per task.
--
-- Cost of creating them on a long history: as 0003 (create them beforehand with CREATE INDEX
-- CONCURRENTLY and the same names and definitions to avoid the pause).
CREATE INDEX IF NOT EXISTS tasker_core_task_transitions_head
    ON tasker_task_transitions (to_state, task_id) WHERE most_recent;
CREATE INDEX IF NOT EXISTS tasker_core_tasks_by_template
    ON tasker_tasks (named_task_id, task_id);
