-- Tasker's schema, exactly (issue 19): what 0001 does not create, and the repair of databases
-- that earlier tasker-core versions created with other column types.
--
-- Why: Tasker's SQL functions declare their result types after Tasker's columns
-- (get_step_readiness_status returns `named_step_id integer`, get_task_execution_context
-- `named_task_id integer`); on tables with bigint there they fail at once with "structure of
-- query does not match function result type". Its ActiveRecord models and its users' SQL
-- expect its indexes and its annotation tables. tests/schema_conformance.rs holds Tasker's
-- schema as facts and compares a migrated database with them.
--
-- On a database the Tasker engine created, this file changes nothing: every step checks the
-- catalog first (types, defaults, index predicates) and every CREATE is IF NOT EXISTS with
-- Tasker's own names. Running it twice changes nothing either.
--
-- On a database an earlier tasker-core created (before this file), it:
-- 1. narrows the template-side ids from bigint to integer, as Tasker has them:
--    tasker_task_namespaces.task_namespace_id, tasker_dependent_systems.dependent_system_id,
--    tasker_named_tasks.named_task_id, tasker_named_steps.named_step_id and
--    .dependent_system_id, tasker_named_tasks_named_steps.id / .named_task_id /
--    .named_step_id, tasker_tasks.named_task_id, tasker_workflow_steps.named_step_id; and
--    the sequences of those ids to `AS integer`. A column whose largest value does not fit
--    an integer is left as it is, with a WARNING (nothing of tasker-core needs the narrowing;
--    only Tasker's functions do);
-- 2. sets Tasker's defaults: tasker_named_tasks.task_namespace_id DEFAULT 1, and
--    .configuration DEFAULT '"{}"'::jsonb (Tasker's, a JSON string) where it was '{}'::jsonb;
-- 3. rebuilds the two "one most recent transition" unique indexes whose predicate was
--    written `WHERE most_recent`, as Tasker writes it, `WHERE (most_recent = true)` (the same
--    rows; the definition text differs, and Tasker's dump and tools compare the text);
-- 4. creates Tasker's tables tasker-core does not use (annotation types, task annotations,
--    dependent-system object maps) and every index of Tasker's schema it lacks.
-- Column order cannot be changed in place: on such a database tasker_named_tasks and
-- tasker_workflow_steps keep their columns in the old order (only `SELECT *` and INSERTs
-- without a column list can tell).
--
-- Running it on a live database: it runs in the migration transaction, under the advisory
-- lock (src/sql/postgres/mod.rs). Step 1 rewrites the tables whose columns change
-- (tasker_tasks and tasker_workflow_steps are the large ones) under an ACCESS EXCLUSIVE lock,
-- and step 4 builds indexes that block writes while they build; on a large history do it in
-- a quiet moment, or create the indexes beforehand with CREATE INDEX CONCURRENTLY and the
-- same names. Engines of earlier versions read these ids as bigint: stop them before the
-- first engine of this version starts on their database. A view a user defined on one of
-- the narrowed columns makes step 1 fail (PostgreSQL refuses to change a column a view
-- reads); drop and recreate it around the upgrade.

-- 1. Template-side ids: bigint -> integer, where they differ.
DO $$
DECLARE
    want record;
    current_type text;
    too_big boolean;
    fits boolean;
    seq text;
BEGIN
    FOR want IN
        SELECT * FROM (VALUES
            (1, 'tasker_task_namespaces', 'task_namespace_id'),
            (2, 'tasker_dependent_systems', 'dependent_system_id'),
            (3, 'tasker_named_tasks', 'named_task_id'),
            (4, 'tasker_named_steps', 'named_step_id'),
            (5, 'tasker_named_steps', 'dependent_system_id'),
            (6, 'tasker_named_tasks_named_steps', 'id'),
            (7, 'tasker_named_tasks_named_steps', 'named_task_id'),
            (8, 'tasker_named_tasks_named_steps', 'named_step_id'),
            (9, 'tasker_tasks', 'named_task_id'),
            (10, 'tasker_workflow_steps', 'named_step_id')
        ) AS w(n, table_name, column_name)
        ORDER BY n
    LOOP
        SELECT format_type(a.atttypid, a.atttypmod) INTO current_type
        FROM pg_attribute a
        WHERE a.attrelid = to_regclass(quote_ident(want.table_name))
          AND a.attname = want.column_name AND NOT a.attisdropped;
        IF current_type IS DISTINCT FROM 'bigint' THEN
            CONTINUE; -- already integer (Tasker's), or not there
        END IF;
        EXECUTE format('SELECT COALESCE(max(%I) > 2147483647 OR min(%I) < -2147483648, false) FROM %I',
                       want.column_name, want.column_name, want.table_name)
            INTO too_big;
        IF too_big THEN
            RAISE WARNING 'tasker-core: %.% holds values beyond integer; left bigint, so Tasker''s SQL functions that read it will not run on this database',
                want.table_name, want.column_name;
            CONTINUE;
        END IF;
        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I TYPE integer', want.table_name, want.column_name);
        -- The id's own sequence too (serial's is `AS integer`), when what it has handed out
        -- fits; its maximum follows the type.
        seq := pg_get_serial_sequence(quote_ident(want.table_name), want.column_name);
        IF seq IS NOT NULL
           AND (SELECT seqtypid FROM pg_sequence WHERE seqrelid = seq::regclass) = 'bigint'::regtype
           AND (SELECT seqmax FROM pg_sequence WHERE seqrelid = seq::regclass) = 9223372036854775807
        THEN
            EXECUTE format('SELECT last_value <= 2147483647 FROM %s', seq) INTO fits;
            IF fits THEN
                EXECUTE format('ALTER SEQUENCE %s AS integer', seq);
            END IF;
        END IF;
    END LOOP;
END
$$;

-- 2. Tasker's defaults on tasker_named_tasks.
DO $$
DECLARE
    table_oid regclass := to_regclass('tasker_named_tasks');
BEGIN
    IF table_oid IS NULL THEN
        RETURN;
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
        WHERE d.adrelid = table_oid AND a.attname = 'task_namespace_id'
    ) THEN
        ALTER TABLE tasker_named_tasks ALTER COLUMN task_namespace_id SET DEFAULT 1;
    END IF;
    IF EXISTS (
        SELECT 1 FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
        WHERE d.adrelid = table_oid AND a.attname = 'configuration'
          AND pg_get_expr(d.adbin, d.adrelid) = '''{}''::jsonb'
    ) THEN
        ALTER TABLE tasker_named_tasks ALTER COLUMN configuration SET DEFAULT '"{}"'::jsonb;
    END IF;
END
$$;

-- 3. The "one most recent transition" indexes, with Tasker's predicate text. Dropped and
-- created in this transaction: no other session sees the table without its unique index.
DO $$
BEGIN
    IF (SELECT pg_get_expr(i.indpred, i.indrelid) FROM pg_index i
        WHERE i.indexrelid = to_regclass('index_tasker_task_transitions_on_task_id_and_most_recent'))
       = 'most_recent' THEN
        DROP INDEX index_tasker_task_transitions_on_task_id_and_most_recent;
        CREATE UNIQUE INDEX index_tasker_task_transitions_on_task_id_and_most_recent
            ON tasker_task_transitions (task_id, most_recent) WHERE (most_recent = true);
    END IF;
    IF (SELECT pg_get_expr(i.indpred, i.indrelid) FROM pg_index i
        WHERE i.indexrelid = to_regclass('idx_on_workflow_step_id_most_recent_97d5374ad6'))
       = 'most_recent' THEN
        DROP INDEX idx_on_workflow_step_id_most_recent_97d5374ad6;
        CREATE UNIQUE INDEX idx_on_workflow_step_id_most_recent_97d5374ad6
            ON tasker_workflow_step_transitions (workflow_step_id, most_recent)
            WHERE (most_recent = true);
    END IF;
END
$$;

-- 4a. Tasker's tables that tasker-core does not use, so Tasker's models find them.
CREATE TABLE IF NOT EXISTS tasker_annotation_types (
    annotation_type_id serial PRIMARY KEY,
    name character varying(64) NOT NULL,
    description character varying(255),
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);
CREATE INDEX IF NOT EXISTS annotation_types_name_index ON tasker_annotation_types (name);
CREATE UNIQUE INDEX IF NOT EXISTS annotation_types_name_unique ON tasker_annotation_types (name);

CREATE TABLE IF NOT EXISTS tasker_task_annotations (
    task_annotation_id bigserial PRIMARY KEY,
    task_id bigint NOT NULL
        CONSTRAINT task_annotations_task_id_foreign REFERENCES tasker_tasks (task_id),
    annotation_type_id integer NOT NULL
        CONSTRAINT task_annotations_annotation_type_id_foreign
        REFERENCES tasker_annotation_types (annotation_type_id),
    annotation jsonb,
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);
CREATE INDEX IF NOT EXISTS task_annotations_annotation_idx
    ON tasker_task_annotations USING gin (annotation);
CREATE INDEX IF NOT EXISTS task_annotations_annotation_idx1
    ON tasker_task_annotations USING gin (annotation jsonb_path_ops);
CREATE INDEX IF NOT EXISTS task_annotations_annotation_type_id_index
    ON tasker_task_annotations (annotation_type_id);
CREATE INDEX IF NOT EXISTS task_annotations_task_id_index ON tasker_task_annotations (task_id);

CREATE TABLE IF NOT EXISTS tasker_dependent_system_object_maps (
    dependent_system_object_map_id bigserial PRIMARY KEY,
    dependent_system_one_id integer NOT NULL
        CONSTRAINT dependent_system_object_maps_dependent_system_one_id_foreign
        REFERENCES tasker_dependent_systems (dependent_system_id),
    dependent_system_two_id integer NOT NULL
        CONSTRAINT dependent_system_object_maps_dependent_system_two_id_foreign
        REFERENCES tasker_dependent_systems (dependent_system_id),
    remote_id_one character varying(128) NOT NULL,
    remote_id_two character varying(128) NOT NULL,
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS dependent_system_object_maps_dependent_system_one_id_dependent_
    ON tasker_dependent_system_object_maps
    (dependent_system_one_id, dependent_system_two_id, remote_id_one, remote_id_two);
CREATE INDEX IF NOT EXISTS dependent_system_object_maps_dependent_system_one_id_index
    ON tasker_dependent_system_object_maps (dependent_system_one_id);
CREATE INDEX IF NOT EXISTS dependent_system_object_maps_dependent_system_two_id_index
    ON tasker_dependent_system_object_maps (dependent_system_two_id);
CREATE INDEX IF NOT EXISTS dependent_system_object_maps_remote_id_one_index
    ON tasker_dependent_system_object_maps (remote_id_one);
CREATE INDEX IF NOT EXISTS dependent_system_object_maps_remote_id_two_index
    ON tasker_dependent_system_object_maps (remote_id_two);

-- 4b. The rest of Tasker's indexes, under Tasker's names (several duplicate each other in
-- Tasker's schema; they are kept so the two schemas cannot be told apart).
CREATE INDEX IF NOT EXISTS dependent_systems_name_index ON tasker_dependent_systems (name);
CREATE INDEX IF NOT EXISTS task_namespaces_name_index ON tasker_task_namespaces (name);

CREATE INDEX IF NOT EXISTS named_steps_dependent_system_id_index
    ON tasker_named_steps (dependent_system_id);
CREATE INDEX IF NOT EXISTS named_steps_name_index ON tasker_named_steps (name);

CREATE INDEX IF NOT EXISTS named_tasks_configuration_gin_index
    ON tasker_named_tasks USING gin (configuration);
CREATE INDEX IF NOT EXISTS named_tasks_name_index ON tasker_named_tasks (name);
CREATE INDEX IF NOT EXISTS named_tasks_task_namespace_id_index
    ON tasker_named_tasks (task_namespace_id);
CREATE INDEX IF NOT EXISTS named_tasks_version_index ON tasker_named_tasks (version);

CREATE INDEX IF NOT EXISTS named_tasks_named_steps_named_step_id_index
    ON tasker_named_tasks_named_steps (named_step_id);
CREATE INDEX IF NOT EXISTS named_tasks_named_steps_named_task_id_index
    ON tasker_named_tasks_named_steps (named_task_id);

CREATE INDEX IF NOT EXISTS idx_tasks_active_operations
    ON tasker_tasks (task_id) WHERE ((complete = false) OR (complete IS NULL));
CREATE INDEX IF NOT EXISTS idx_tasks_active_workflow_summary
    ON tasker_tasks (task_id, complete) WHERE ((complete = false) OR (complete IS NULL));
CREATE INDEX IF NOT EXISTS idx_tasks_completion_status_created
    ON tasker_tasks (complete, created_at, task_id);
CREATE INDEX IF NOT EXISTS tasks_context_idx ON tasker_tasks USING gin (context);
CREATE INDEX IF NOT EXISTS tasks_context_idx1 ON tasker_tasks USING gin (context jsonb_path_ops);
CREATE INDEX IF NOT EXISTS tasks_identity_hash_index ON tasker_tasks (identity_hash);
CREATE INDEX IF NOT EXISTS tasks_named_task_id_index ON tasker_tasks (named_task_id);
CREATE INDEX IF NOT EXISTS tasks_requested_at_index ON tasker_tasks (requested_at);
CREATE INDEX IF NOT EXISTS tasks_source_system_index ON tasker_tasks (source_system);
CREATE INDEX IF NOT EXISTS tasks_tags_idx ON tasker_tasks USING gin (tags);
CREATE INDEX IF NOT EXISTS tasks_tags_idx1 ON tasker_tasks USING gin (tags jsonb_path_ops);

CREATE INDEX IF NOT EXISTS idx_steps_active_operations
    ON tasker_workflow_steps (workflow_step_id, task_id)
    WHERE ((processed = false) OR (processed IS NULL));
CREATE INDEX IF NOT EXISTS idx_workflow_steps_task_grouping_active
    ON tasker_workflow_steps (task_id, workflow_step_id)
    WHERE ((processed = false) OR (processed IS NULL));
CREATE INDEX IF NOT EXISTS idx_workflow_steps_task_readiness
    ON tasker_workflow_steps (task_id, processed, workflow_step_id) WHERE (processed = false);
CREATE INDEX IF NOT EXISTS index_workflow_steps_backoff_timing
    ON tasker_workflow_steps (last_attempted_at, backoff_request_seconds)
    WHERE (backoff_request_seconds IS NOT NULL);
CREATE INDEX IF NOT EXISTS index_workflow_steps_by_task ON tasker_workflow_steps (task_id);
CREATE INDEX IF NOT EXISTS index_workflow_steps_processing_status
    ON tasker_workflow_steps (task_id, processed, in_process);
CREATE INDEX IF NOT EXISTS index_workflow_steps_retry_logic
    ON tasker_workflow_steps (attempts, retry_limit, retryable);
CREATE INDEX IF NOT EXISTS index_workflow_steps_retry_status
    ON tasker_workflow_steps (attempts, retry_limit);
CREATE INDEX IF NOT EXISTS index_workflow_steps_task_and_id
    ON tasker_workflow_steps (task_id, workflow_step_id);
CREATE INDEX IF NOT EXISTS index_workflow_steps_task_and_step_id
    ON tasker_workflow_steps (task_id, workflow_step_id);
CREATE INDEX IF NOT EXISTS index_workflow_steps_task_and_step_optimized
    ON tasker_workflow_steps (task_id, workflow_step_id);
CREATE INDEX IF NOT EXISTS index_workflow_steps_task_covering
    ON tasker_workflow_steps (task_id)
    INCLUDE (workflow_step_id, processed, in_process, attempts, retry_limit);
CREATE INDEX IF NOT EXISTS workflow_steps_last_attempted_at_index
    ON tasker_workflow_steps (last_attempted_at);
CREATE INDEX IF NOT EXISTS workflow_steps_named_step_id_index
    ON tasker_workflow_steps (named_step_id);
CREATE INDEX IF NOT EXISTS workflow_steps_processed_at_index
    ON tasker_workflow_steps (processed_at);

CREATE INDEX IF NOT EXISTS idx_step_edges_from_to
    ON tasker_workflow_step_edges (from_step_id, to_step_id);
CREATE INDEX IF NOT EXISTS idx_step_edges_to_from
    ON tasker_workflow_step_edges (to_step_id, from_step_id);
CREATE INDEX IF NOT EXISTS idx_workflow_step_edges_dependency_lookup
    ON tasker_workflow_step_edges (to_step_id, from_step_id);
CREATE INDEX IF NOT EXISTS index_step_edges_child_lookup ON tasker_workflow_step_edges (to_step_id);
CREATE INDEX IF NOT EXISTS index_step_edges_dependency_pair
    ON tasker_workflow_step_edges (to_step_id, from_step_id);
CREATE INDEX IF NOT EXISTS index_step_edges_from_step_for_children
    ON tasker_workflow_step_edges (from_step_id);
CREATE INDEX IF NOT EXISTS index_step_edges_from_to_composite
    ON tasker_workflow_step_edges (from_step_id, to_step_id);
CREATE INDEX IF NOT EXISTS index_step_edges_parent_lookup ON tasker_workflow_step_edges (from_step_id);
CREATE INDEX IF NOT EXISTS index_step_edges_to_from_composite
    ON tasker_workflow_step_edges (to_step_id, from_step_id);
CREATE INDEX IF NOT EXISTS index_step_edges_to_step_for_parents
    ON tasker_workflow_step_edges (to_step_id);
CREATE INDEX IF NOT EXISTS index_workflow_step_edges_dependency_lookup
    ON tasker_workflow_step_edges (to_step_id, from_step_id);

CREATE INDEX IF NOT EXISTS idx_task_transitions_most_recent
    ON tasker_task_transitions (task_id, most_recent) WHERE (most_recent = true);
CREATE INDEX IF NOT EXISTS index_task_transitions_current_state
    ON tasker_task_transitions (task_id, created_at);
CREATE INDEX IF NOT EXISTS index_task_transitions_current_state_optimized
    ON tasker_task_transitions (task_id, most_recent) WHERE (most_recent = true);
CREATE INDEX IF NOT EXISTS index_tasker_task_transitions_on_sort_key
    ON tasker_task_transitions (sort_key);
CREATE INDEX IF NOT EXISTS index_tasker_task_transitions_on_task_id
    ON tasker_task_transitions (task_id);

CREATE INDEX IF NOT EXISTS idx_step_transitions_current_state
    ON tasker_workflow_step_transitions (workflow_step_id, most_recent, to_state)
    WHERE (most_recent = true);
CREATE INDEX IF NOT EXISTS idx_step_transitions_most_recent
    ON tasker_workflow_step_transitions (workflow_step_id, most_recent) WHERE (most_recent = true);
CREATE INDEX IF NOT EXISTS index_step_transitions_completed
    ON tasker_workflow_step_transitions (workflow_step_id, to_state)
    WHERE ((to_state)::text = 'complete'::text);
CREATE INDEX IF NOT EXISTS index_step_transitions_completed_parents
    ON tasker_workflow_step_transitions (workflow_step_id, most_recent)
    WHERE to_state IN ('complete', 'resolved_manually') AND most_recent = true;
CREATE INDEX IF NOT EXISTS index_step_transitions_current_errors
    ON tasker_workflow_step_transitions (workflow_step_id, most_recent, created_at)
    WHERE (((to_state)::text = 'error'::text) AND (most_recent = true));
CREATE INDEX IF NOT EXISTS index_step_transitions_current_state_optimized
    ON tasker_workflow_step_transitions (workflow_step_id, most_recent) WHERE (most_recent = true);
-- 'failed' is not a state (TASKER.md); Tasker's index names it anyway, so it stays empty.
CREATE INDEX IF NOT EXISTS index_step_transitions_failures_with_timing
    ON tasker_workflow_step_transitions (workflow_step_id, to_state, created_at)
    WHERE ((to_state)::text = 'failed'::text);
CREATE INDEX IF NOT EXISTS index_step_transitions_for_current_state
    ON tasker_workflow_step_transitions (workflow_step_id, created_at);
CREATE INDEX IF NOT EXISTS index_tasker_workflow_step_transitions_on_sort_key
    ON tasker_workflow_step_transitions (sort_key);
CREATE INDEX IF NOT EXISTS index_tasker_workflow_step_transitions_on_workflow_step_id
    ON tasker_workflow_step_transitions (workflow_step_id);
