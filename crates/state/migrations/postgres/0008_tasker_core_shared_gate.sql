-- The dispatch gate's state shared by every engine on the database (issue 17): cap slots
-- and pauses.
--
-- tasker_core_cap_slots: concurrency caps shared by every engine on the database (issue 17): a cap of N is N slot
-- rows that may exist, numbered 0..N-1, and an engine lets a capped step out only while it
-- holds a slot of each cap the step counts against. The primary key makes a slot held by
-- one process at a time, so the sum over processes never exceeds N (two engines racing for
-- slot 0: the second's INSERT … ON CONFLICT DO NOTHING gets nothing).
--
-- Crash safety without session state (PgBouncer in transaction mode, as 0005): a slot
-- names its owner, a row of tasker_core_processes. Closing a store deletes that row, and so
-- (ON DELETE CASCADE) its slots; a killed process's slots are taken over by the next
-- engine that finds a cap short, once the owner's heartbeat is older than the lease timeout
-- (or at once when it ran on the same host and its pid is gone), and they vanish with the
-- row when survivors prune it.
--
-- Additive like 0002: nothing of Tasker's altered, running it again changes nothing.
CREATE TABLE IF NOT EXISTS tasker_core_cap_slots (
    cap text NOT NULL,
    slot integer NOT NULL,
    owner integer NOT NULL REFERENCES tasker_core_processes (id) ON DELETE CASCADE,
    acquired_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cap, slot)
);
-- A store closing or a survivor pruning deletes by owner (the cascade's lookup).
CREATE INDEX IF NOT EXISTS tasker_core_cap_slots_owner ON tasker_core_cap_slots (owner);

-- tasker_core_pauses: a paused namespace (template '') or template, for every engine on the
-- database. An operator's decision, not a process's: it names no process and stays when
-- the process that set it dies, until some engine resumes it. Engines read it at each claim
-- round (woken by a NOTIFY on the work channel when it changes, or by the claim interval).
CREATE TABLE IF NOT EXISTS tasker_core_pauses (
    namespace text NOT NULL,
    template text NOT NULL DEFAULT '',
    paused_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace, template)
);
