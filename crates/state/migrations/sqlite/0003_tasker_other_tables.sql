-- Tasker's tables that tasker-core does not use itself (issue 19), so a Tasker app's models
-- find them in the embedded store too: annotation types, task annotations and
-- dependent-system object maps, with the columns of migrations/postgres/0004 in SQLite's
-- types (see 0001's mapping). Tasker's GIN indexes on the annotation JSON have no SQLite
-- equivalent and are left out. Every statement is IF NOT EXISTS.
CREATE TABLE IF NOT EXISTS tasker_annotation_types (
    annotation_type_id INTEGER PRIMARY KEY AUTOINCREMENT,
    name VARCHAR(64) NOT NULL,
    description VARCHAR(255),
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);
CREATE INDEX IF NOT EXISTS annotation_types_name_index ON tasker_annotation_types (name);
CREATE UNIQUE INDEX IF NOT EXISTS annotation_types_name_unique ON tasker_annotation_types (name);

CREATE TABLE IF NOT EXISTS tasker_task_annotations (
    task_annotation_id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id BIGINT NOT NULL REFERENCES tasker_tasks (task_id),
    annotation_type_id INTEGER NOT NULL REFERENCES tasker_annotation_types (annotation_type_id),
    annotation TEXT CHECK (annotation IS NULL OR json_valid(annotation)),
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);
CREATE INDEX IF NOT EXISTS task_annotations_annotation_type_id_index
    ON tasker_task_annotations (annotation_type_id);
CREATE INDEX IF NOT EXISTS task_annotations_task_id_index ON tasker_task_annotations (task_id);

CREATE TABLE IF NOT EXISTS tasker_dependent_system_object_maps (
    dependent_system_object_map_id INTEGER PRIMARY KEY AUTOINCREMENT,
    dependent_system_one_id INTEGER NOT NULL
        REFERENCES tasker_dependent_systems (dependent_system_id),
    dependent_system_two_id INTEGER NOT NULL
        REFERENCES tasker_dependent_systems (dependent_system_id),
    remote_id_one VARCHAR(128) NOT NULL,
    remote_id_two VARCHAR(128) NOT NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
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
