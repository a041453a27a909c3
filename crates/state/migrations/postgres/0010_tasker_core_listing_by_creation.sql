-- The third index for listing tasks (see 0007): the tasks by creation time, for the `since`
-- filter. `sql/listing.rs` reads the tasks created at or after T from it, up to a bound, and
-- when they are fewer than the bound lists the page from them alone; without it a `since`
-- that matched fewer than a page walked the whole range of the other filters (0.15-2.7 s at
-- 1,000,000 tasks, docs/benchmarks.md). Tasker's idx_tasks_completion_status_created leads
-- with `complete`, so it cannot give the tasks of both kinds in creation order.
--
-- One index, one table, in a migration of its own (as 0009): its build blocks writes to
-- tasker_tasks only and holds no lock on another table meanwhile, so it cannot deadlock with
-- running writers (create it beforehand with CREATE INDEX CONCURRENTLY, same name and
-- definition, to avoid the pause on a long history). Cost to writers: one entry per task.
-- Additive: IF NOT EXISTS, nothing of Tasker's altered.
CREATE INDEX IF NOT EXISTS tasker_core_tasks_by_creation
    ON tasker_tasks (created_at, task_id);
