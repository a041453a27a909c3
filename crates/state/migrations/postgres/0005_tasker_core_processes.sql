-- Engines sharing one database (PostgreSQL only): a process table with heartbeats, and
-- a fencing token on each claim. Additive, like 0002: nothing of Tasker's is altered, and
-- running it again changes nothing.
--
-- tasker_core_processes: one row per open store (an engine's process, or a store opened
-- alone). `id` is the owner key in tasker_core_task_claims. A store refreshes heartbeat_at
-- every heartbeat interval (default 5 s); a process whose heartbeat is older than the lease
-- timeout (default 30 s) is dead and its tasks may be claimed by any other engine. Times
-- come from the server's clock (now()), so hosts' clocks need not agree. A store closed
-- gracefully deletes its row and hands its claims back at once; rows of dead processes are
-- pruned by the survivors.
-- - hostname, pid and pid_namespace let an engine on the same host (same pid namespace,
--   same boot) see at once that a process is gone, instead of waiting out its lease.
-- - role: 'worker' (runs handlers, claims tasks) or 'client' (submits only); capacity
--   (handler slots) and steps_in_flight as of the last heartbeat, for dashboards.
--
-- tasker_core_task_claims.token: the fencing token, incremented whenever another process
-- takes the task over. Every batch a store writes checks, in its statement and under a
-- FOR SHARE lock on the claim, that it still holds each task it touches with the token it
-- got; a process that lost a task (paused past its lease, cut off) gets that write refused.
-- Why a process table and not session advisory locks: a session lock needs a connection
-- kept for the process's life, which a transaction-pooling PgBouncer does not give.
CREATE TABLE IF NOT EXISTS tasker_core_processes (
    id serial PRIMARY KEY,
    hostname text NOT NULL,
    pid integer NOT NULL,
    pid_namespace text NOT NULL,
    role text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    capacity integer NOT NULL DEFAULT 0,
    steps_in_flight integer NOT NULL DEFAULT 0,
    version text NOT NULL
);
-- Columns added to existing tables only when missing: ALTER TABLE takes an ACCESS EXCLUSIVE
-- lock even when IF NOT EXISTS finds the column, and an engine starting while others write
-- claims and heartbeats deadlocked on it (every open runs the migrations).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = current_schema() AND table_name = 'tasker_core_task_claims'
                     AND column_name = 'token') THEN
        ALTER TABLE tasker_core_task_claims ADD COLUMN token bigint NOT NULL DEFAULT 1;
    END IF;
    -- Added after the table's first version (a database that ran it lacks the column).
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = current_schema() AND table_name = 'tasker_core_processes'
                     AND column_name = 'steps_in_flight') THEN
        ALTER TABLE tasker_core_processes ADD COLUMN steps_in_flight integer NOT NULL DEFAULT 0;
    END IF;
END
$$;
