//! The ceiling bench's optional variant in a schema filled beforehand
//! (`TASKER_BENCH_CEILING_FILLED=<schema>` in the same database, e.g. one that
//! benches/chain_ab.rb's `PG_SCHEMA=… FILL=…` filled): the engine variant's rows written
//! after that schema's own ids, its rounds interleaved with a fresh schema's, so the two
//! ceilings compare tables that hold 1,000,000 tasks with empty ones.
//!
//! Owns finding where the schema's ids end and moving its id sequences past what the rounds
//! wrote, so that an engine opened on it later takes no id the rounds used. Must not create,
//! drop or alter anything of that schema (no template registration, no index dropped, no
//! ANALYZE or VACUUM: its statistics stay as stale as the fill left them).

use sqlx::postgres::PgConnection;
use sqlx::AssertSqlSafe;

/// The environment variable that names the filled schema.
pub const SCHEMA_VAR: &str = "TASKER_BENCH_CEILING_FILLED";

/// Tables whose ids the rounds give explicitly (tasks, steps): `(table, id column)`.
const EXPLICIT_IDS: [(&str, &str); 2] = [
    ("tasker_tasks", "task_id"),
    ("tasker_workflow_steps", "workflow_step_id"),
];

/// Where the schema's ids end: the largest task and step id its rows or their sequences
/// have used (the engine takes ids from the sequences in blocks).
pub async fn id_bases(conn: &mut PgConnection) -> Result<(i64, i64), sqlx::Error> {
    let mut bases = [0i64; 2];
    for (base, (table, column)) in bases.iter_mut().zip(EXPLICIT_IDS) {
        *base = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT GREATEST((SELECT COALESCE(max({column}), 0) FROM {table}), \
                    COALESCE(pg_sequence_last_value(\
                        pg_get_serial_sequence('{table}', '{column}')::regclass), 0))"
        )))
        .fetch_one(&mut *conn)
        .await?;
    }
    Ok((bases[0], bases[1]))
}

/// Moves the task and step sequences past the largest ids now stored.
pub async fn move_sequences(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    for (table, column) in EXPLICIT_IDS {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
                    (SELECT max({column}) FROM {table}))"
        )))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
