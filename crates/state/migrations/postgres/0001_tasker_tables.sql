-- Tasker's tables (TASKER.md, "Database"), for a PostgreSQL database that does not have them yet.
--
-- An app that already runs the Tasker Rails engine has these tables, and tasker-core must use
-- them as they are. So this file only ever creates what is missing: every statement is
-- CREATE ... IF NOT EXISTS, nothing is dropped or altered, and running it against Tasker's own
-- schema (or running it twice) changes nothing. For that to hold for indexes too, each index
-- carries the name Tasker's schema gives it: IF NOT EXISTS matches by name.
--
-- The tables are Tasker's exactly (issue 19): the same column types, in the same order, with
-- the same nullability, defaults and keys as the Tasker engine's schema (its structure.sql),
-- so Tasker's SQL functions, which declare their result columns with those types (e.g.
-- `named_step_id integer`), run unchanged here. tests/schema_conformance.rs holds the
-- reference and fails on any drift. Tasker's own quirks are kept on purpose:
-- - the ids of the template-side tables (namespaces, dependent systems, named tasks, named
--   steps, and the join table) are `integer` filled from an `integer` sequence (serial), while
--   tasks, steps, edges and transitions use bigint (bigserial); so do the columns that
--   reference them (tasker_named_tasks.task_namespace_id alone is bigint, with DEFAULT 1);
-- - tasker_named_tasks.configuration defaults to the JSON *string* "{}" ('"{}"'::jsonb);
--   tasker-core always writes the configuration, so the default only shows to other writers;
-- - timestamps are `timestamp without time zone` holding UTC; created_at / updated_at are
--   timestamp(6) and have no default: the writer sets them (Rails does), so code that forgets
--   them fails here as it would on a Tasker database;
-- - JSON documents are jsonb, except tasker_tasks.bypass_steps, which Tasker declares json.
-- Tasker's other indexes (it has many, some duplicates of each other) and its annotation and
-- object-map tables are created by 0004_tasker_schema_conformance.sql, which also brings
-- databases created by earlier tasker-core versions to these types.
-- Tables are unqualified: they land in the first schema of search_path.

CREATE TABLE IF NOT EXISTS tasker_task_namespaces (
    task_namespace_id serial PRIMARY KEY,
    name character varying(64) NOT NULL,
    description character varying(255),
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS task_namespaces_name_unique
    ON tasker_task_namespaces (name);

CREATE TABLE IF NOT EXISTS tasker_dependent_systems (
    dependent_system_id serial PRIMARY KEY,
    name character varying(64) NOT NULL,
    description character varying(255),
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS dependent_systems_name_unique
    ON tasker_dependent_systems (name);

-- A template, identified by (namespace, name, version). Tasker added the last three columns
-- in a later migration; they stay last so the column order is Tasker's too.
CREATE TABLE IF NOT EXISTS tasker_named_tasks (
    named_task_id serial PRIMARY KEY,
    name character varying(64) NOT NULL,
    description character varying(255),
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL,
    task_namespace_id bigint NOT NULL DEFAULT 1
        CONSTRAINT fk_rails_16a0297759 REFERENCES tasker_task_namespaces (task_namespace_id),
    version character varying(16) NOT NULL DEFAULT '0.1.0',
    configuration jsonb DEFAULT '"{}"'::jsonb
);
CREATE UNIQUE INDEX IF NOT EXISTS named_tasks_namespace_name_version_unique
    ON tasker_named_tasks (task_namespace_id, name, version);

CREATE TABLE IF NOT EXISTS tasker_named_steps (
    named_step_id serial PRIMARY KEY,
    dependent_system_id integer NOT NULL
        CONSTRAINT named_steps_dependent_system_id_foreign
        REFERENCES tasker_dependent_systems (dependent_system_id),
    name character varying(128) NOT NULL,
    description character varying(255),
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS named_step_by_system_uniq
    ON tasker_named_steps (dependent_system_id, name);

-- Which steps a template has, with the per-step defaults copied onto each workflow step.
-- Tasker gives this join table its own id and timestamps; so do we.
CREATE TABLE IF NOT EXISTS tasker_named_tasks_named_steps (
    id serial PRIMARY KEY,
    named_task_id integer NOT NULL
        CONSTRAINT named_tasks_named_steps_named_task_id_foreign
        REFERENCES tasker_named_tasks (named_task_id),
    named_step_id integer NOT NULL
        CONSTRAINT named_tasks_named_steps_named_step_id_foreign
        REFERENCES tasker_named_steps (named_step_id),
    skippable boolean NOT NULL DEFAULT false,
    default_retryable boolean NOT NULL DEFAULT true,
    default_retry_limit integer NOT NULL DEFAULT 3,
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS named_tasks_steps_ids_unique
    ON tasker_named_tasks_named_steps (named_task_id, named_step_id);

CREATE TABLE IF NOT EXISTS tasker_tasks (
    task_id bigserial PRIMARY KEY,
    named_task_id integer NOT NULL
        CONSTRAINT tasks_named_task_id_foreign REFERENCES tasker_named_tasks (named_task_id),
    complete boolean NOT NULL DEFAULT false,
    requested_at timestamp without time zone NOT NULL,
    initiator character varying(128),
    source_system character varying(128),
    reason character varying(128),
    bypass_steps json,
    tags jsonb,
    context jsonb,
    identity_hash character varying(128) NOT NULL,
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS index_tasks_on_identity_hash
    ON tasker_tasks (identity_hash);

-- attempts, retry_limit and backoff_request_seconds are nullable on purpose: the readiness
-- rules give NULL a meaning (attempts 0, or 1 for the error backoff; retry_limit 3).
-- skippable is last, where Tasker's later migration put it.
CREATE TABLE IF NOT EXISTS tasker_workflow_steps (
    workflow_step_id bigserial PRIMARY KEY,
    task_id bigint NOT NULL
        CONSTRAINT workflow_steps_task_id_foreign REFERENCES tasker_tasks (task_id),
    named_step_id integer NOT NULL
        CONSTRAINT workflow_steps_named_step_id_foreign
        REFERENCES tasker_named_steps (named_step_id),
    retryable boolean NOT NULL DEFAULT true,
    retry_limit integer DEFAULT 3,
    in_process boolean NOT NULL DEFAULT false,
    processed boolean NOT NULL DEFAULT false,
    processed_at timestamp without time zone,
    attempts integer,
    last_attempted_at timestamp without time zone,
    backoff_request_seconds integer,
    inputs jsonb,
    results jsonb,
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL,
    skippable boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS workflow_steps_task_id_index
    ON tasker_workflow_steps (task_id);

-- from_step_id is the parent, to_step_id the child.
CREATE TABLE IF NOT EXISTS tasker_workflow_step_edges (
    id bigserial PRIMARY KEY,
    from_step_id bigint NOT NULL
        CONSTRAINT fk_rails_7b4652ccf2 REFERENCES tasker_workflow_steps (workflow_step_id),
    to_step_id bigint NOT NULL
        CONSTRAINT fk_rails_93ec0bf6eb REFERENCES tasker_workflow_steps (workflow_step_id),
    name character varying NOT NULL,
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);
CREATE INDEX IF NOT EXISTS index_tasker_workflow_step_edges_on_from_step_id
    ON tasker_workflow_step_edges (from_step_id);
CREATE INDEX IF NOT EXISTS index_tasker_workflow_step_edges_on_to_step_id
    ON tasker_workflow_step_edges (to_step_id);

-- Append-only history. Exactly one row per owner has most_recent = true (the partial unique
-- index enforces "at most one"; the writer flips the old row and inserts the new one in one
-- transaction). sort_key increases per owner, also enforced unique.
CREATE TABLE IF NOT EXISTS tasker_task_transitions (
    id bigserial PRIMARY KEY,
    to_state character varying NOT NULL,
    from_state character varying,
    metadata jsonb DEFAULT '{}'::jsonb,
    sort_key integer NOT NULL,
    most_recent boolean NOT NULL DEFAULT true,
    task_id bigint NOT NULL
        CONSTRAINT fk_rails_e8caec803c REFERENCES tasker_tasks (task_id),
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS index_tasker_task_transitions_on_task_id_and_most_recent
    ON tasker_task_transitions (task_id, most_recent) WHERE (most_recent = true);
CREATE UNIQUE INDEX IF NOT EXISTS index_tasker_task_transitions_on_task_id_and_sort_key
    ON tasker_task_transitions (task_id, sort_key);

CREATE TABLE IF NOT EXISTS tasker_workflow_step_transitions (
    id bigserial PRIMARY KEY,
    to_state character varying NOT NULL,
    from_state character varying,
    metadata jsonb DEFAULT '{}'::jsonb,
    sort_key integer NOT NULL,
    most_recent boolean NOT NULL DEFAULT true,
    workflow_step_id bigint NOT NULL
        CONSTRAINT fk_rails_6e0f6eb833 REFERENCES tasker_workflow_steps (workflow_step_id),
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);
-- The two names below are the ones Rails generated for Tasker (hash suffixes included).
CREATE UNIQUE INDEX IF NOT EXISTS idx_on_workflow_step_id_most_recent_97d5374ad6
    ON tasker_workflow_step_transitions (workflow_step_id, most_recent) WHERE (most_recent = true);
CREATE UNIQUE INDEX IF NOT EXISTS idx_on_workflow_step_id_sort_key_4d476d7adb
    ON tasker_workflow_step_transitions (workflow_step_id, sort_key);
