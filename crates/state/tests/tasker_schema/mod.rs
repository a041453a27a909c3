//! The Tasker engine's PostgreSQL schema, written down as facts (issue 19): every table's
//! columns in order with type, nullability and default, the id sequences, primary and foreign
//! keys, and every index definition, as the Tasker engine's `structure.sql` has them (read by
//! hand from the public Tasker repository, `db/init/schema.sql` and
//! `spec/dummy/db/structure.sql`, which agree; its views and functions are not tables and are
//! not here). Also: reading the same facts back from a live database, writing a database that
//! Tasker would have created, and the SQLite spelling of each column.
//!
//! Types are `format_type` spellings (`timestamp(6) without time zone` and
//! `timestamp without time zone` differ, which `information_schema` alone cannot show);
//! defaults are `pg_get_expr` spellings, as `information_schema.columns.column_default`
//! shows them; index definitions are `pg_indexes.indexdef` with the schema prefix removed.

#![allow(dead_code)] // each test binary uses a part

use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection};
use std::collections::BTreeSet;

/// One column of a Tasker table.
pub struct Column {
    pub name: &'static str,
    pub ty: &'static str,
    pub not_null: bool,
    pub default: Option<&'static str>,
}

/// One Tasker table: columns in Tasker's order; `id` is the primary key column.
pub struct Table {
    pub name: &'static str,
    pub id: &'static str,
    /// The sequence behind the id and its type (`AS integer` for serial ids).
    pub sequence: (&'static str, &'static str),
    pub columns: &'static [Column],
}

const fn col(name: &'static str, ty: &'static str) -> Column {
    Column {
        name,
        ty,
        not_null: false,
        default: None,
    }
}
const fn req(name: &'static str, ty: &'static str) -> Column {
    Column {
        name,
        ty,
        not_null: true,
        default: None,
    }
}
const fn req_def(name: &'static str, ty: &'static str, default: &'static str) -> Column {
    Column {
        name,
        ty,
        not_null: true,
        default: Some(default),
    }
}
const fn col_def(name: &'static str, ty: &'static str, default: &'static str) -> Column {
    Column {
        name,
        ty,
        not_null: false,
        default: Some(default),
    }
}

const INT: &str = "integer";
const BIG: &str = "bigint";
const BOOL: &str = "boolean";
const TS6: &str = "timestamp(6) without time zone";
const TS: &str = "timestamp without time zone";
const JSONB: &str = "jsonb";
const VC: &str = "character varying";
const VC64: &str = "character varying(64)";
const VC128: &str = "character varying(128)";
const VC255: &str = "character varying(255)";

const CREATED: Column = req("created_at", TS6);
const UPDATED: Column = req("updated_at", TS6);

/// A table whose id column is serial, as Rails creates it: the id comes first and defaults
/// to its sequence, named `{table}_{id}_seq` unless PostgreSQL had to cut the name to 63
/// bytes (then written out, before the type).
macro_rules! serial_table {
    ($name:literal, $id:literal, $seq:literal, $ty:expr, [$($column:expr),* $(,)?]) => {
        serial_table!(@ $name, $id, $seq, $ty, [$($column),*])
    };
    ($name:literal, $id:literal, $ty:expr, [$($column:expr),* $(,)?]) => {
        serial_table!(@ $name, $id, concat!($name, "_", $id, "_seq"), $ty, [$($column),*])
    };
    (@ $name:literal, $id:literal, $seq:expr, $ty:expr, [$($column:expr),*]) => {
        Table {
            name: $name,
            id: $id,
            sequence: ($seq, $ty),
            columns: &[
                req_def($id, $ty, concat!("nextval('", $seq, "'::regclass)")),
                $($column),*
            ],
        }
    };
}

/// A transitions table (Statesman's layout): the history of the row `$owner` names.
macro_rules! history_table {
    ($name:literal, $owner:literal) => {
        serial_table!(
            $name,
            "id",
            BIG,
            [
                req("to_state", VC),
                col("from_state", VC),
                col_def("metadata", JSONB, "'{}'::jsonb"),
                req("sort_key", INT),
                req_def("most_recent", BOOL, "true"),
                req($owner, BIG),
                CREATED,
                UPDATED,
            ]
        )
    };
}

/// A lookup table, a name and a description (annotation types, dependent systems, task
/// namespaces).
macro_rules! named_table {
    ($name:literal, $id:literal) => {
        serial_table!(
            $name,
            $id,
            INT,
            [
                req("name", VC64),
                col("description", VC255),
                CREATED,
                UPDATED,
            ]
        )
    };
}

/// Every table of Tasker's schema.
pub const TABLES: &[Table] = &[
    named_table!("tasker_annotation_types", "annotation_type_id"),
    serial_table!(
        "tasker_dependent_system_object_maps",
        "dependent_system_object_map_id",
        "tasker_dependent_system_objec_dependent_system_object_map_i_seq",
        BIG,
        [
            req("dependent_system_one_id", INT),
            req("dependent_system_two_id", INT),
            req("remote_id_one", VC128),
            req("remote_id_two", VC128),
            CREATED,
            UPDATED,
        ]
    ),
    named_table!("tasker_dependent_systems", "dependent_system_id"),
    serial_table!(
        "tasker_named_steps",
        "named_step_id",
        INT,
        [
            req("dependent_system_id", INT),
            req("name", VC128),
            col("description", VC255),
            CREATED,
            UPDATED,
        ]
    ),
    serial_table!(
        "tasker_named_tasks",
        "named_task_id",
        INT,
        [
            req("name", VC64),
            col("description", VC255),
            CREATED,
            UPDATED,
            req_def("task_namespace_id", BIG, "1"),
            req_def(
                "version",
                "character varying(16)",
                "'0.1.0'::character varying",
            ),
            col_def("configuration", JSONB, "'\"{}\"'::jsonb"),
        ]
    ),
    serial_table!(
        "tasker_named_tasks_named_steps",
        "id",
        INT,
        [
            req("named_task_id", INT),
            req("named_step_id", INT),
            req_def("skippable", BOOL, "false"),
            req_def("default_retryable", BOOL, "true"),
            req_def("default_retry_limit", INT, "3"),
            CREATED,
            UPDATED,
        ]
    ),
    serial_table!(
        "tasker_task_annotations",
        "task_annotation_id",
        BIG,
        [
            req("task_id", BIG),
            req("annotation_type_id", INT),
            col("annotation", JSONB),
            CREATED,
            UPDATED,
        ]
    ),
    named_table!("tasker_task_namespaces", "task_namespace_id"),
    history_table!("tasker_task_transitions", "task_id"),
    serial_table!(
        "tasker_tasks",
        "task_id",
        BIG,
        [
            req("named_task_id", INT),
            req_def("complete", BOOL, "false"),
            req("requested_at", TS),
            col("initiator", VC128),
            col("source_system", VC128),
            col("reason", VC128),
            col("bypass_steps", "json"),
            col("tags", JSONB),
            col("context", JSONB),
            req("identity_hash", VC128),
            CREATED,
            UPDATED,
        ]
    ),
    serial_table!(
        "tasker_workflow_step_edges",
        "id",
        BIG,
        [
            req("from_step_id", BIG),
            req("to_step_id", BIG),
            req("name", VC),
            CREATED,
            UPDATED,
        ]
    ),
    history_table!("tasker_workflow_step_transitions", "workflow_step_id"),
    serial_table!(
        "tasker_workflow_steps",
        "workflow_step_id",
        BIG,
        [
            req("task_id", BIG),
            req("named_step_id", INT),
            req_def("retryable", BOOL, "true"),
            col_def("retry_limit", INT, "3"),
            req_def("in_process", BOOL, "false"),
            req_def("processed", BOOL, "false"),
            col("processed_at", TS),
            col("attempts", INT),
            col("last_attempted_at", TS),
            col("backoff_request_seconds", INT),
            col("inputs", JSONB),
            col("results", JSONB),
            CREATED,
            UPDATED,
            req_def("skippable", BOOL, "false"),
        ]
    ),
];

/// Foreign keys: (table, constraint name, definition).
pub const FOREIGN_KEYS: &[(&str, &str, &str)] = &[
    ("tasker_dependent_system_object_maps", "dependent_system_object_maps_dependent_system_one_id_foreign",
     "FOREIGN KEY (dependent_system_one_id) REFERENCES tasker_dependent_systems(dependent_system_id)"),
    ("tasker_dependent_system_object_maps", "dependent_system_object_maps_dependent_system_two_id_foreign",
     "FOREIGN KEY (dependent_system_two_id) REFERENCES tasker_dependent_systems(dependent_system_id)"),
    ("tasker_named_tasks", "fk_rails_16a0297759",
     "FOREIGN KEY (task_namespace_id) REFERENCES tasker_task_namespaces(task_namespace_id)"),
    ("tasker_workflow_step_transitions", "fk_rails_6e0f6eb833",
     "FOREIGN KEY (workflow_step_id) REFERENCES tasker_workflow_steps(workflow_step_id)"),
    ("tasker_workflow_step_edges", "fk_rails_7b4652ccf2",
     "FOREIGN KEY (from_step_id) REFERENCES tasker_workflow_steps(workflow_step_id)"),
    ("tasker_workflow_step_edges", "fk_rails_93ec0bf6eb",
     "FOREIGN KEY (to_step_id) REFERENCES tasker_workflow_steps(workflow_step_id)"),
    ("tasker_task_transitions", "fk_rails_e8caec803c",
     "FOREIGN KEY (task_id) REFERENCES tasker_tasks(task_id)"),
    ("tasker_named_steps", "named_steps_dependent_system_id_foreign",
     "FOREIGN KEY (dependent_system_id) REFERENCES tasker_dependent_systems(dependent_system_id)"),
    ("tasker_named_tasks_named_steps", "named_tasks_named_steps_named_step_id_foreign",
     "FOREIGN KEY (named_step_id) REFERENCES tasker_named_steps(named_step_id)"),
    ("tasker_named_tasks_named_steps", "named_tasks_named_steps_named_task_id_foreign",
     "FOREIGN KEY (named_task_id) REFERENCES tasker_named_tasks(named_task_id)"),
    ("tasker_task_annotations", "task_annotations_annotation_type_id_foreign",
     "FOREIGN KEY (annotation_type_id) REFERENCES tasker_annotation_types(annotation_type_id)"),
    ("tasker_task_annotations", "task_annotations_task_id_foreign",
     "FOREIGN KEY (task_id) REFERENCES tasker_tasks(task_id)"),
    ("tasker_tasks", "tasks_named_task_id_foreign",
     "FOREIGN KEY (named_task_id) REFERENCES tasker_named_tasks(named_task_id)"),
    ("tasker_workflow_steps", "workflow_steps_named_step_id_foreign",
     "FOREIGN KEY (named_step_id) REFERENCES tasker_named_steps(named_step_id)"),
    ("tasker_workflow_steps", "workflow_steps_task_id_foreign",
     "FOREIGN KEY (task_id) REFERENCES tasker_tasks(task_id)"),
];

/// Every index but the primary keys' (those are `<table>_pkey` on the id), as
/// `pg_indexes.indexdef` prints it without the schema.
pub const INDEXES: &[&str] = &[
    "CREATE INDEX annotation_types_name_index ON tasker_annotation_types USING btree (name)",
    "CREATE UNIQUE INDEX annotation_types_name_unique ON tasker_annotation_types USING btree (name)",
    "CREATE UNIQUE INDEX dependent_system_object_maps_dependent_system_one_id_dependent_ ON tasker_dependent_system_object_maps USING btree (dependent_system_one_id, dependent_system_two_id, remote_id_one, remote_id_two)",
    "CREATE INDEX dependent_system_object_maps_dependent_system_one_id_index ON tasker_dependent_system_object_maps USING btree (dependent_system_one_id)",
    "CREATE INDEX dependent_system_object_maps_dependent_system_two_id_index ON tasker_dependent_system_object_maps USING btree (dependent_system_two_id)",
    "CREATE INDEX dependent_system_object_maps_remote_id_one_index ON tasker_dependent_system_object_maps USING btree (remote_id_one)",
    "CREATE INDEX dependent_system_object_maps_remote_id_two_index ON tasker_dependent_system_object_maps USING btree (remote_id_two)",
    "CREATE INDEX dependent_systems_name_index ON tasker_dependent_systems USING btree (name)",
    "CREATE UNIQUE INDEX dependent_systems_name_unique ON tasker_dependent_systems USING btree (name)",
    "CREATE UNIQUE INDEX idx_on_workflow_step_id_most_recent_97d5374ad6 ON tasker_workflow_step_transitions USING btree (workflow_step_id, most_recent) WHERE (most_recent = true)",
    "CREATE UNIQUE INDEX idx_on_workflow_step_id_sort_key_4d476d7adb ON tasker_workflow_step_transitions USING btree (workflow_step_id, sort_key)",
    "CREATE INDEX idx_step_edges_from_to ON tasker_workflow_step_edges USING btree (from_step_id, to_step_id)",
    "CREATE INDEX idx_step_edges_to_from ON tasker_workflow_step_edges USING btree (to_step_id, from_step_id)",
    "CREATE INDEX idx_step_transitions_current_state ON tasker_workflow_step_transitions USING btree (workflow_step_id, most_recent, to_state) WHERE (most_recent = true)",
    "CREATE INDEX idx_step_transitions_most_recent ON tasker_workflow_step_transitions USING btree (workflow_step_id, most_recent) WHERE (most_recent = true)",
    "CREATE INDEX idx_steps_active_operations ON tasker_workflow_steps USING btree (workflow_step_id, task_id) WHERE ((processed = false) OR (processed IS NULL))",
    "CREATE INDEX idx_task_transitions_most_recent ON tasker_task_transitions USING btree (task_id, most_recent) WHERE (most_recent = true)",
    "CREATE INDEX idx_tasks_active_operations ON tasker_tasks USING btree (task_id) WHERE ((complete = false) OR (complete IS NULL))",
    "CREATE INDEX idx_tasks_active_workflow_summary ON tasker_tasks USING btree (task_id, complete) WHERE ((complete = false) OR (complete IS NULL))",
    "CREATE INDEX idx_tasks_completion_status_created ON tasker_tasks USING btree (complete, created_at, task_id)",
    "CREATE INDEX idx_workflow_step_edges_dependency_lookup ON tasker_workflow_step_edges USING btree (to_step_id, from_step_id)",
    "CREATE INDEX idx_workflow_steps_task_grouping_active ON tasker_workflow_steps USING btree (task_id, workflow_step_id) WHERE ((processed = false) OR (processed IS NULL))",
    "CREATE INDEX idx_workflow_steps_task_readiness ON tasker_workflow_steps USING btree (task_id, processed, workflow_step_id) WHERE (processed = false)",
    "CREATE INDEX index_step_edges_child_lookup ON tasker_workflow_step_edges USING btree (to_step_id)",
    "CREATE INDEX index_step_edges_dependency_pair ON tasker_workflow_step_edges USING btree (to_step_id, from_step_id)",
    "CREATE INDEX index_step_edges_from_step_for_children ON tasker_workflow_step_edges USING btree (from_step_id)",
    "CREATE INDEX index_step_edges_from_to_composite ON tasker_workflow_step_edges USING btree (from_step_id, to_step_id)",
    "CREATE INDEX index_step_edges_parent_lookup ON tasker_workflow_step_edges USING btree (from_step_id)",
    "CREATE INDEX index_step_edges_to_from_composite ON tasker_workflow_step_edges USING btree (to_step_id, from_step_id)",
    "CREATE INDEX index_step_edges_to_step_for_parents ON tasker_workflow_step_edges USING btree (to_step_id)",
    "CREATE INDEX index_step_transitions_completed ON tasker_workflow_step_transitions USING btree (workflow_step_id, to_state) WHERE ((to_state)::text = 'complete'::text)",
    "CREATE INDEX index_step_transitions_completed_parents ON tasker_workflow_step_transitions USING btree (workflow_step_id, most_recent) WHERE (((to_state)::text = ANY ((ARRAY['complete'::character varying, 'resolved_manually'::character varying])::text[])) AND (most_recent = true))",
    "CREATE INDEX index_step_transitions_current_errors ON tasker_workflow_step_transitions USING btree (workflow_step_id, most_recent, created_at) WHERE (((to_state)::text = 'error'::text) AND (most_recent = true))",
    "CREATE INDEX index_step_transitions_current_state_optimized ON tasker_workflow_step_transitions USING btree (workflow_step_id, most_recent) WHERE (most_recent = true)",
    "CREATE INDEX index_step_transitions_failures_with_timing ON tasker_workflow_step_transitions USING btree (workflow_step_id, to_state, created_at) WHERE ((to_state)::text = 'failed'::text)",
    "CREATE INDEX index_step_transitions_for_current_state ON tasker_workflow_step_transitions USING btree (workflow_step_id, created_at)",
    "CREATE INDEX index_task_transitions_current_state ON tasker_task_transitions USING btree (task_id, created_at)",
    "CREATE INDEX index_task_transitions_current_state_optimized ON tasker_task_transitions USING btree (task_id, most_recent) WHERE (most_recent = true)",
    "CREATE INDEX index_tasker_task_transitions_on_sort_key ON tasker_task_transitions USING btree (sort_key)",
    "CREATE INDEX index_tasker_task_transitions_on_task_id ON tasker_task_transitions USING btree (task_id)",
    "CREATE UNIQUE INDEX index_tasker_task_transitions_on_task_id_and_most_recent ON tasker_task_transitions USING btree (task_id, most_recent) WHERE (most_recent = true)",
    "CREATE UNIQUE INDEX index_tasker_task_transitions_on_task_id_and_sort_key ON tasker_task_transitions USING btree (task_id, sort_key)",
    "CREATE INDEX index_tasker_workflow_step_edges_on_from_step_id ON tasker_workflow_step_edges USING btree (from_step_id)",
    "CREATE INDEX index_tasker_workflow_step_edges_on_to_step_id ON tasker_workflow_step_edges USING btree (to_step_id)",
    "CREATE INDEX index_tasker_workflow_step_transitions_on_sort_key ON tasker_workflow_step_transitions USING btree (sort_key)",
    "CREATE INDEX index_tasker_workflow_step_transitions_on_workflow_step_id ON tasker_workflow_step_transitions USING btree (workflow_step_id)",
    "CREATE UNIQUE INDEX index_tasks_on_identity_hash ON tasker_tasks USING btree (identity_hash)",
    "CREATE INDEX index_workflow_step_edges_dependency_lookup ON tasker_workflow_step_edges USING btree (to_step_id, from_step_id)",
    "CREATE INDEX index_workflow_steps_backoff_timing ON tasker_workflow_steps USING btree (last_attempted_at, backoff_request_seconds) WHERE (backoff_request_seconds IS NOT NULL)",
    "CREATE INDEX index_workflow_steps_by_task ON tasker_workflow_steps USING btree (task_id)",
    "CREATE INDEX index_workflow_steps_processing_status ON tasker_workflow_steps USING btree (task_id, processed, in_process)",
    "CREATE INDEX index_workflow_steps_retry_logic ON tasker_workflow_steps USING btree (attempts, retry_limit, retryable)",
    "CREATE INDEX index_workflow_steps_retry_status ON tasker_workflow_steps USING btree (attempts, retry_limit)",
    "CREATE INDEX index_workflow_steps_task_and_id ON tasker_workflow_steps USING btree (task_id, workflow_step_id)",
    "CREATE INDEX index_workflow_steps_task_and_step_id ON tasker_workflow_steps USING btree (task_id, workflow_step_id)",
    "CREATE INDEX index_workflow_steps_task_and_step_optimized ON tasker_workflow_steps USING btree (task_id, workflow_step_id)",
    "CREATE INDEX index_workflow_steps_task_covering ON tasker_workflow_steps USING btree (task_id) INCLUDE (workflow_step_id, processed, in_process, attempts, retry_limit)",
    "CREATE UNIQUE INDEX named_step_by_system_uniq ON tasker_named_steps USING btree (dependent_system_id, name)",
    "CREATE INDEX named_steps_dependent_system_id_index ON tasker_named_steps USING btree (dependent_system_id)",
    "CREATE INDEX named_steps_name_index ON tasker_named_steps USING btree (name)",
    "CREATE INDEX named_tasks_configuration_gin_index ON tasker_named_tasks USING gin (configuration)",
    "CREATE INDEX named_tasks_name_index ON tasker_named_tasks USING btree (name)",
    "CREATE INDEX named_tasks_named_steps_named_step_id_index ON tasker_named_tasks_named_steps USING btree (named_step_id)",
    "CREATE INDEX named_tasks_named_steps_named_task_id_index ON tasker_named_tasks_named_steps USING btree (named_task_id)",
    "CREATE UNIQUE INDEX named_tasks_namespace_name_version_unique ON tasker_named_tasks USING btree (task_namespace_id, name, version)",
    "CREATE UNIQUE INDEX named_tasks_steps_ids_unique ON tasker_named_tasks_named_steps USING btree (named_task_id, named_step_id)",
    "CREATE INDEX named_tasks_task_namespace_id_index ON tasker_named_tasks USING btree (task_namespace_id)",
    "CREATE INDEX named_tasks_version_index ON tasker_named_tasks USING btree (version)",
    "CREATE INDEX task_annotations_annotation_idx ON tasker_task_annotations USING gin (annotation)",
    "CREATE INDEX task_annotations_annotation_idx1 ON tasker_task_annotations USING gin (annotation jsonb_path_ops)",
    "CREATE INDEX task_annotations_annotation_type_id_index ON tasker_task_annotations USING btree (annotation_type_id)",
    "CREATE INDEX task_annotations_task_id_index ON tasker_task_annotations USING btree (task_id)",
    "CREATE INDEX task_namespaces_name_index ON tasker_task_namespaces USING btree (name)",
    "CREATE UNIQUE INDEX task_namespaces_name_unique ON tasker_task_namespaces USING btree (name)",
    "CREATE INDEX tasks_context_idx ON tasker_tasks USING gin (context)",
    "CREATE INDEX tasks_context_idx1 ON tasker_tasks USING gin (context jsonb_path_ops)",
    "CREATE INDEX tasks_identity_hash_index ON tasker_tasks USING btree (identity_hash)",
    "CREATE INDEX tasks_named_task_id_index ON tasker_tasks USING btree (named_task_id)",
    "CREATE INDEX tasks_requested_at_index ON tasker_tasks USING btree (requested_at)",
    "CREATE INDEX tasks_source_system_index ON tasker_tasks USING btree (source_system)",
    "CREATE INDEX tasks_tags_idx ON tasker_tasks USING gin (tags)",
    "CREATE INDEX tasks_tags_idx1 ON tasker_tasks USING gin (tags jsonb_path_ops)",
    "CREATE INDEX workflow_steps_last_attempted_at_index ON tasker_workflow_steps USING btree (last_attempted_at)",
    "CREATE INDEX workflow_steps_named_step_id_index ON tasker_workflow_steps USING btree (named_step_id)",
    "CREATE INDEX workflow_steps_processed_at_index ON tasker_workflow_steps USING btree (processed_at)",
    "CREATE INDEX workflow_steps_task_id_index ON tasker_workflow_steps USING btree (task_id)",
];

/// The facts as lines, one per fact, comparable with [`read_back`]'s. `with_order` puts the
/// column's position in its line (a database upgraded in place keeps its own order).
pub fn expected(with_order: bool) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for t in TABLES {
        for (i, c) in t.columns.iter().enumerate() {
            out.insert(column_line(
                t.name,
                with_order.then_some(i as i32 + 1),
                c.name,
                c.ty,
                c.not_null,
                c.default,
            ));
        }
        out.insert(format!(
            "index {} CREATE UNIQUE INDEX {}_pkey ON {} USING btree ({})",
            t.name, t.name, t.name, t.id
        ));
        out.insert(format!(
            "constraint {} {}_pkey PRIMARY KEY ({})",
            t.name, t.name, t.id
        ));
        out.insert(format!(
            "sequence {} {} owned by {}.{}",
            t.sequence.0, t.sequence.1, t.name, t.id
        ));
    }
    for (table, name, def) in FOREIGN_KEYS {
        out.insert(format!("constraint {table} {name} {def}"));
    }
    for def in INDEXES {
        out.insert(format!("index {} {def}", index_table(def)));
    }
    out
}

fn column_line(
    table: &str,
    position: Option<i32>,
    name: &str,
    ty: &str,
    not_null: bool,
    default: Option<&str>,
) -> String {
    let position = position.map_or(String::new(), |p| format!(" #{p}"));
    let null = if not_null { "NOT NULL" } else { "NULL" };
    let default = default.map_or(String::new(), |d| format!(" DEFAULT {d}"));
    format!("column {table}.{name}{position} {ty} {null}{default}")
}

/// The table an index definition is on.
fn index_table(def: &str) -> &str {
    def.split(" ON ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .expect("an index definition names its table")
}

/// Reads the facts of Tasker's tables back from the current schema of `conn` (the first of
/// its `search_path`), in [`expected`]'s spelling. Objects of other tables are left out, and
/// so are tasker-core's own indexes on Tasker's tables (named `tasker_core_*`), returned
/// apart as the second value.
pub async fn read_back(
    conn: &mut PgConnection,
    with_order: bool,
) -> Result<(BTreeSet<String>, BTreeSet<String>), sqlx::Error> {
    let tables: Vec<String> = TABLES.iter().map(|t| t.name.to_string()).collect();
    let mut out = BTreeSet::new();
    // information_schema for names, order, nullability and defaults; format_type for the
    // type, since information_schema cannot tell timestamp(6) from timestamp.
    let columns: Vec<(String, i32, String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT c.table_name::text, c.ordinal_position::int, c.column_name::text, \
                format_type(a.atttypid, a.atttypmod), c.is_nullable::text, c.column_default::text \
         FROM information_schema.columns c \
         JOIN pg_attribute a \
           ON a.attrelid = (quote_ident(c.table_schema) || '.' || quote_ident(c.table_name))::regclass \
          AND a.attname = c.column_name \
         WHERE c.table_schema = current_schema() AND c.table_name = ANY($1)",
    )
    .bind(&tables)
    .fetch_all(&mut *conn)
    .await?;
    for (table, position, name, ty, nullable, default) in columns {
        out.insert(column_line(
            &table,
            with_order.then_some(position),
            &name,
            &ty,
            nullable == "NO",
            default.as_deref(),
        ));
    }
    let mut own = BTreeSet::new();
    let indexes: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT tablename::text, indexname::text, \
                replace(indexdef, ' ON ' || quote_ident(schemaname) || '.', ' ON ') \
         FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ANY($1)",
    )
    .bind(&tables)
    .fetch_all(&mut *conn)
    .await?;
    for (table, name, def) in indexes {
        if name.starts_with("tasker_core_") {
            own.insert(format!("index {table} {def}"));
        } else {
            out.insert(format!("index {table} {def}"));
        }
    }
    let constraints: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT c.conrelid::regclass::text, c.conname::text, pg_get_constraintdef(c.oid) \
         FROM pg_constraint c \
         WHERE c.connamespace = current_schema()::regnamespace \
           AND c.conrelid::regclass::text = ANY($1)",
    )
    .bind(&tables)
    .fetch_all(&mut *conn)
    .await?;
    for (table, name, def) in constraints {
        out.insert(format!("constraint {table} {name} {def}"));
    }
    let sequences: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT s.relname::text, format_type(q.seqtypid, NULL), t.relname::text, a.attname::text \
         FROM pg_class s \
         JOIN pg_sequence q ON q.seqrelid = s.oid \
         JOIN pg_depend d ON d.objid = s.oid AND d.deptype = 'a' \
         JOIN pg_class t ON t.oid = d.refobjid \
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid \
         WHERE s.relnamespace = current_schema()::regnamespace AND t.relname = ANY($1)",
    )
    .bind(&tables)
    .fetch_all(&mut *conn)
    .await?;
    for (seq, ty, table, column) in sequences {
        out.insert(format!("sequence {seq} {ty} owned by {table}.{column}"));
    }
    Ok((out, own))
}

/// What `actual` lacks of `expected` and has beyond it, one line each, for a failure message.
pub fn differences(expected: &BTreeSet<String>, actual: &BTreeSet<String>) -> Vec<String> {
    let mut out: Vec<String> = expected
        .difference(actual)
        .map(|l| format!("missing:    {l}"))
        .collect();
    out.extend(
        actual
            .difference(expected)
            .map(|l| format!("unexpected: {l}")),
    );
    out
}

/// The DDL of a database as the Tasker engine leaves it (its tables, sequences, keys and
/// indexes; none of its views and functions), made from the facts above: the stand-in for a
/// Tasker app's database in the tests.
pub fn tasker_ddl() -> String {
    let mut sql = String::new();
    for t in TABLES {
        sql += &format!("CREATE SEQUENCE {} AS {};\n", t.sequence.0, t.sequence.1);
        let columns: Vec<String> = t
            .columns
            .iter()
            .map(|c| {
                let mut s = format!("    {} {}", c.name, c.ty);
                if let Some(d) = c.default {
                    s += &format!(" DEFAULT {d}");
                }
                if c.not_null {
                    s += " NOT NULL";
                }
                s
            })
            .collect();
        sql += &format!("CREATE TABLE {} (\n{}\n);\n", t.name, columns.join(",\n"));
        sql += &format!(
            "ALTER SEQUENCE {} OWNED BY {}.{};\n",
            t.sequence.0, t.name, t.id
        );
        sql += &format!(
            "ALTER TABLE ONLY {} ADD CONSTRAINT {}_pkey PRIMARY KEY ({});\n",
            t.name, t.name, t.id
        );
    }
    for def in INDEXES {
        // pg_dump's text of an IN list does not parse back to itself (PostgreSQL keeps the
        // array's cast apart); the IN list Tasker's migration wrote does.
        sql += &def.replace(
            "(to_state)::text = ANY ((ARRAY['complete'::character varying, 'resolved_manually'::character varying])::text[])",
            "to_state IN ('complete', 'resolved_manually')",
        );
        sql += ";\n";
    }
    for (table, name, def) in FOREIGN_KEYS {
        sql += &format!("ALTER TABLE ONLY {table} ADD CONSTRAINT {name} {def};\n");
    }
    sql
}

/// Runs `sql` (several statements) on `conn`.
pub async fn run_sql(conn: &mut PgConnection, sql: &str) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
        .execute(&mut *conn)
        .await
        .map(|_| ())
}

/// Connects to `url` (a test schema's).
pub async fn connect(url: &str) -> Result<PgConnection, sqlx::Error> {
    PgConnection::connect(url).await
}

/// How a column of Tasker's is declared in the embedded SQLite store: (type, not null,
/// default) as `pragma_table_info` reports them. The differences are what SQLite requires:
/// an id is `INTEGER PRIMARY KEY AUTOINCREMENT` (SQLite's rowid, which it reports as
/// nullable and without the sequence default), timestamps are DATETIME text, JSON is TEXT
/// and booleans are 0 / 1.
pub fn sqlite_column(table: &Table, c: &Column) -> (String, bool, Option<String>) {
    if c.name == table.id {
        return ("INTEGER".into(), false, None);
    }
    let ty = match c.ty {
        "integer" => "INTEGER".to_string(),
        "bigint" => "BIGINT".to_string(),
        "boolean" => "BOOLEAN".to_string(),
        "json" | "jsonb" => "TEXT".to_string(),
        t if t.starts_with("timestamp") => "DATETIME".to_string(),
        t if t.starts_with("character varying") => t.replacen("character varying", "VARCHAR", 1),
        other => panic!("no SQLite spelling for {other}"),
    };
    let default = c.default.map(|d| match d {
        "true" => "1".to_string(),
        "false" => "0".to_string(),
        d => d
            .trim_end_matches("::character varying")
            .trim_end_matches("::jsonb")
            .to_string(),
    });
    (ty, c.not_null, default)
}
