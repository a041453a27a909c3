-- Tasker's tables (TASKER.md, "Database") for the embedded SQLite store: the same tables,
-- columns (in Tasker's order), defaults, keys and index names as
-- migrations/postgres/0001_tasker_tables.sql, in SQLite's types. Every statement is IF NOT
-- EXISTS, so running it twice changes nothing. tests/schema_conformance.rs compares the
-- columns with Tasker's schema through the mapping below.
--
-- Type mapping (a column keeps Tasker's type name wherever SQLite can hold it as it is):
-- - ids: INTEGER PRIMARY KEY AUTOINCREMENT (the 64-bit rowid; AUTOINCREMENT so an id is never
--   reused, like a PostgreSQL sequence), whether Tasker's id is integer or bigint;
-- - other integer columns: INTEGER where Tasker has integer, BIGINT where it has bigint (both
--   are SQLite's 64-bit INTEGER affinity; the name records Tasker's type). Files created
--   before issue 19 declare BIGINT for a few integer references: SQLite cannot change a
--   declared type in place, and the two names store and compare the same;
-- - booleans: BOOLEAN, stored as 0 / 1;
-- - timestamps: DATETIME holding UTC text 'YYYY-MM-DD HH:MM:SS.ffffff' (how sqlx stores
--   chrono::NaiveDateTime), which sorts and compares like the instant it names;
-- - JSON: TEXT holding a JSON document, checked with json_valid.
-- Foreign keys are enforced only on connections with PRAGMA foreign_keys = ON (sqlx turns it
-- on by default).

CREATE TABLE IF NOT EXISTS tasker_task_namespaces (
    task_namespace_id INTEGER PRIMARY KEY AUTOINCREMENT,
    name VARCHAR(64) NOT NULL,
    description VARCHAR(255),
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS task_namespaces_name_unique
    ON tasker_task_namespaces (name);

CREATE TABLE IF NOT EXISTS tasker_dependent_systems (
    dependent_system_id INTEGER PRIMARY KEY AUTOINCREMENT,
    name VARCHAR(64) NOT NULL,
    description VARCHAR(255),
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS dependent_systems_name_unique
    ON tasker_dependent_systems (name);

CREATE TABLE IF NOT EXISTS tasker_named_tasks (
    named_task_id INTEGER PRIMARY KEY AUTOINCREMENT,
    name VARCHAR(64) NOT NULL,
    description VARCHAR(255),
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    task_namespace_id BIGINT NOT NULL DEFAULT 1
        REFERENCES tasker_task_namespaces (task_namespace_id),
    version VARCHAR(16) NOT NULL DEFAULT '0.1.0',
    -- Tasker's default is the JSON string "{}", not an empty object.
    configuration TEXT DEFAULT '"{}"' CHECK (configuration IS NULL OR json_valid(configuration))
);
CREATE UNIQUE INDEX IF NOT EXISTS named_tasks_namespace_name_version_unique
    ON tasker_named_tasks (task_namespace_id, name, version);

CREATE TABLE IF NOT EXISTS tasker_named_steps (
    named_step_id INTEGER PRIMARY KEY AUTOINCREMENT,
    dependent_system_id INTEGER NOT NULL
        REFERENCES tasker_dependent_systems (dependent_system_id),
    name VARCHAR(128) NOT NULL,
    description VARCHAR(255),
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS named_step_by_system_uniq
    ON tasker_named_steps (dependent_system_id, name);

CREATE TABLE IF NOT EXISTS tasker_named_tasks_named_steps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    named_task_id INTEGER NOT NULL REFERENCES tasker_named_tasks (named_task_id),
    named_step_id INTEGER NOT NULL REFERENCES tasker_named_steps (named_step_id),
    skippable BOOLEAN NOT NULL DEFAULT 0,
    default_retryable BOOLEAN NOT NULL DEFAULT 1,
    default_retry_limit INTEGER NOT NULL DEFAULT 3,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS named_tasks_steps_ids_unique
    ON tasker_named_tasks_named_steps (named_task_id, named_step_id);

CREATE TABLE IF NOT EXISTS tasker_tasks (
    task_id INTEGER PRIMARY KEY AUTOINCREMENT,
    named_task_id INTEGER NOT NULL REFERENCES tasker_named_tasks (named_task_id),
    complete BOOLEAN NOT NULL DEFAULT 0,
    requested_at DATETIME NOT NULL,
    initiator VARCHAR(128),
    source_system VARCHAR(128),
    reason VARCHAR(128),
    bypass_steps TEXT CHECK (bypass_steps IS NULL OR json_valid(bypass_steps)),
    tags TEXT CHECK (tags IS NULL OR json_valid(tags)),
    context TEXT CHECK (context IS NULL OR json_valid(context)),
    identity_hash VARCHAR(128) NOT NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS index_tasks_on_identity_hash
    ON tasker_tasks (identity_hash);

CREATE TABLE IF NOT EXISTS tasker_workflow_steps (
    workflow_step_id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id BIGINT NOT NULL REFERENCES tasker_tasks (task_id),
    named_step_id INTEGER NOT NULL REFERENCES tasker_named_steps (named_step_id),
    retryable BOOLEAN NOT NULL DEFAULT 1,
    retry_limit INTEGER DEFAULT 3,
    in_process BOOLEAN NOT NULL DEFAULT 0,
    processed BOOLEAN NOT NULL DEFAULT 0,
    processed_at DATETIME,
    attempts INTEGER,
    last_attempted_at DATETIME,
    backoff_request_seconds INTEGER,
    inputs TEXT CHECK (inputs IS NULL OR json_valid(inputs)),
    results TEXT CHECK (results IS NULL OR json_valid(results)),
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    skippable BOOLEAN NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS workflow_steps_task_id_index
    ON tasker_workflow_steps (task_id);

CREATE TABLE IF NOT EXISTS tasker_workflow_step_edges (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    from_step_id BIGINT NOT NULL REFERENCES tasker_workflow_steps (workflow_step_id),
    to_step_id BIGINT NOT NULL REFERENCES tasker_workflow_steps (workflow_step_id),
    name VARCHAR NOT NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);
CREATE INDEX IF NOT EXISTS index_tasker_workflow_step_edges_on_from_step_id
    ON tasker_workflow_step_edges (from_step_id);
CREATE INDEX IF NOT EXISTS index_tasker_workflow_step_edges_on_to_step_id
    ON tasker_workflow_step_edges (to_step_id);

CREATE TABLE IF NOT EXISTS tasker_task_transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    to_state VARCHAR NOT NULL,
    from_state VARCHAR,
    metadata TEXT DEFAULT '{}' CHECK (metadata IS NULL OR json_valid(metadata)),
    sort_key INTEGER NOT NULL,
    most_recent BOOLEAN NOT NULL DEFAULT 1,
    task_id BIGINT NOT NULL REFERENCES tasker_tasks (task_id),
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS index_tasker_task_transitions_on_task_id_and_most_recent
    ON tasker_task_transitions (task_id, most_recent) WHERE most_recent;
CREATE UNIQUE INDEX IF NOT EXISTS index_tasker_task_transitions_on_task_id_and_sort_key
    ON tasker_task_transitions (task_id, sort_key);

CREATE TABLE IF NOT EXISTS tasker_workflow_step_transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    to_state VARCHAR NOT NULL,
    from_state VARCHAR,
    metadata TEXT DEFAULT '{}' CHECK (metadata IS NULL OR json_valid(metadata)),
    sort_key INTEGER NOT NULL,
    most_recent BOOLEAN NOT NULL DEFAULT 1,
    workflow_step_id BIGINT NOT NULL REFERENCES tasker_workflow_steps (workflow_step_id),
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_on_workflow_step_id_most_recent_97d5374ad6
    ON tasker_workflow_step_transitions (workflow_step_id, most_recent) WHERE most_recent;
CREATE UNIQUE INDEX IF NOT EXISTS idx_on_workflow_step_id_sort_key_4d476d7adb
    ON tasker_workflow_step_transitions (workflow_step_id, sort_key);
