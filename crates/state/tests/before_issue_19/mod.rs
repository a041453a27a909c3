//! The 0001 migrations as tasker-core shipped them before issue 19, for the upgrade tests in
//! `schema_conformance.rs`: made from today's 0001 text and the explicit list of what issue 19
//! changed in it (commits 495c5e9 for PostgreSQL, 79717e3 for SQLite), undone. A frozen copy
//! of the old files would repeat every table definition; these lists say only what differs,
//! and every undo must find exactly what it expects, so a later change to 0001 that touches an
//! undone column fails here instead of silently building something else. Comments are not
//! reproduced (they create nothing).
//!
//! Must not: hold a table definition of its own, or be used for anything but building the
//! earlier layout (the migrations themselves are never edited: they are checksummed).

/// What a column's definition says now and said before issue 19, as text inside it.
type Was = (&'static str, &'static str);

/// Template-side ids: Tasker's `serial` were `bigserial` (PostgreSQL only: SQLite's ids are
/// `INTEGER PRIMARY KEY` either way).
const SERIAL: Was = ("serial", "bigserial");
/// References to those ids, in each database's spelling.
const INT: Was = ("integer", "bigint");
const SQLITE_INT: Was = ("INTEGER", "BIGINT");
/// `tasker_named_tasks.task_namespace_id` had no default.
const NAMESPACE_DEFAULT: Was = (" DEFAULT 1", "");
/// `tasker_named_tasks.configuration` defaulted to an empty object, not the JSON string "{}".
const CONFIGURATION_DEFAULT: Was = ("'\"{}\"'", "'{}'");

/// Each column issue 19 changed: table, column, and the change in PostgreSQL and (where it
/// changed there too) in SQLite.
pub const CHANGED: &[(&str, &str, Was, Option<Was>)] = &[
    ("tasker_task_namespaces", "task_namespace_id", SERIAL, None),
    (
        "tasker_dependent_systems",
        "dependent_system_id",
        SERIAL,
        None,
    ),
    ("tasker_named_tasks", "named_task_id", SERIAL, None),
    (
        "tasker_named_tasks",
        "task_namespace_id",
        NAMESPACE_DEFAULT,
        Some(NAMESPACE_DEFAULT),
    ),
    (
        "tasker_named_tasks",
        "configuration",
        CONFIGURATION_DEFAULT,
        Some(CONFIGURATION_DEFAULT),
    ),
    ("tasker_named_steps", "named_step_id", SERIAL, None),
    (
        "tasker_named_steps",
        "dependent_system_id",
        INT,
        Some(SQLITE_INT),
    ),
    ("tasker_named_tasks_named_steps", "id", SERIAL, None),
    (
        "tasker_named_tasks_named_steps",
        "named_task_id",
        INT,
        Some(SQLITE_INT),
    ),
    (
        "tasker_named_tasks_named_steps",
        "named_step_id",
        INT,
        Some(SQLITE_INT),
    ),
    ("tasker_tasks", "named_task_id", INT, Some(SQLITE_INT)),
    (
        "tasker_workflow_steps",
        "named_step_id",
        INT,
        Some(SQLITE_INT),
    ),
];

/// Columns issue 19 moved into Tasker's order, in both databases: table, the columns, and
/// the column they came right after before.
pub const MOVED: &[(&str, &[&str], &str)] = &[
    (
        "tasker_named_tasks",
        &["created_at", "updated_at"],
        "configuration",
    ),
    ("tasker_workflow_steps", &["skippable"], "results"),
];

/// Issue 19 spelled the partial unique indexes' predicate as Tasker does (PostgreSQL only):
/// what it is now, what it was, and in how many indexes.
pub const PREDICATE: (&str, &str, usize) = ("WHERE (most_recent = true)", "WHERE most_recent", 2);

/// Which database's 0001 is undone.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

/// `current` (that database's 0001 migration as it stands) with issue 19 undone: the text
/// tasker-core ran before it. Panics, naming the column, when an undo does not find what it
/// expects (0001 changed under the lists).
pub fn earlier(current: &str, dialect: Dialect) -> String {
    let mut sql = current.to_string();
    for &(table, column, pg, sqlite) in CHANGED {
        let was = match dialect {
            Dialect::Postgres => Some(pg),
            Dialect::Sqlite => sqlite,
        };
        if let Some((now, before)) = was {
            edit_table(&mut sql, table, |columns| {
                let def = columns
                    .iter_mut()
                    .find(|c| name(c) == column)
                    .unwrap_or_else(|| panic!("0001 has no column {table}.{column}"));
                assert!(def.contains(now), "{table}.{column} is not {now:?}: {def}");
                *def = def.replacen(now, before, 1);
            });
        }
    }
    for &(table, moved, after) in MOVED {
        edit_table(&mut sql, table, |columns| {
            let taken: Vec<String> = moved
                .iter()
                .map(|m| {
                    let i = columns.iter().position(|c| name(c) == *m);
                    columns.remove(i.unwrap_or_else(|| panic!("0001 has no column {table}.{m}")))
                })
                .collect();
            let at = columns.iter().position(|c| name(c) == after);
            let at = at.unwrap_or_else(|| panic!("0001 has no column {table}.{after}")) + 1;
            columns.splice(at..at, taken);
        });
    }
    if dialect == Dialect::Postgres {
        let (now, before, count) = PREDICATE;
        assert_eq!(sql.matches(now).count(), count, "indexes with {now:?}");
        sql = sql.replace(now, before);
    }
    sql
}

/// The column a definition defines.
fn name(def: &str) -> &str {
    def.split_whitespace().next().unwrap_or_default()
}

/// Rewrites the column definitions of `table`'s CREATE TABLE through `f`, one string a
/// column (its continuation lines included, without the separating comma); comment lines
/// inside the statement are dropped.
fn edit_table(sql: &mut String, table: &str, f: impl FnOnce(&mut Vec<String>)) {
    let head = format!("CREATE TABLE IF NOT EXISTS {table} (\n");
    let start = sql
        .find(&head)
        .unwrap_or_else(|| panic!("0001 has no table {table}"))
        + head.len();
    let end = start + sql[start..].find("\n);").expect("the statement ends");
    let mut columns: Vec<String> = Vec::new();
    for line in sql[start..end].lines() {
        let line = line.trim_end_matches(',');
        if line.trim_start().starts_with("--") {
            continue;
        }
        match columns.last_mut() {
            Some(last) if line.starts_with("        ") => *last = format!("{last}\n{line}"),
            _ => columns.push(line.to_string()),
        }
    }
    f(&mut columns);
    sql.replace_range(start..end, &columns.join(",\n"));
}

/// Every column the undo touches in `dialect`, as (table, column).
pub fn touched(dialect: Dialect) -> Vec<(&'static str, &'static str)> {
    let changed = CHANGED
        .iter()
        .filter(|c| dialect == Dialect::Postgres || c.3.is_some())
        .map(|c| (c.0, c.1));
    let moved = MOVED
        .iter()
        .flat_map(|&(table, columns, _)| columns.iter().map(move |c| (table, *c)));
    changed.chain(moved).collect()
}
