-- What tasker-core keeps beyond Tasker's tables (PostgreSQL only). Additive: nothing of
-- Tasker's is altered, and every statement is IF NOT EXISTS, so running it again changes
-- nothing.
--
-- tasker_core_task_claims: which engine orchestrates which unfinished task, when several
-- engine processes share the database (PostgresStore::claim_tasks).
-- - owner is an engine's key. Each engine holds ONE session-level advisory lock,
--   (class, owner) with class = this table's OID, on a connection it keeps for its life.
--   A claim is live while its owner's lock is held; when the engine's process dies the
--   server ends its session, frees the lock, and every claim of that engine may be taken
--   over at once.
-- - A row is written in the transaction that creates the task, and deleted in the one that
--   finishes it (complete, error, cancelled, resolved_manually), so a claim never outlives
--   its task's writes or precedes them.
-- Why a table and not one advisory lock per task: advisory locks live in the server's
-- shared lock table, sized max_locks_per_transaction x max_connections (6,400 slots by
-- default, for the whole server); one lock per live task ran it out ("out of shared
-- memory") with a few thousand tasks in flight.
CREATE TABLE IF NOT EXISTS tasker_core_task_claims (
    task_id bigint PRIMARY KEY
        REFERENCES tasker_tasks (task_id) ON DELETE CASCADE,
    owner integer NOT NULL,
    claimed_at timestamp(6) without time zone NOT NULL
);
CREATE INDEX IF NOT EXISTS tasker_core_task_claims_owner
    ON tasker_core_task_claims (owner);
