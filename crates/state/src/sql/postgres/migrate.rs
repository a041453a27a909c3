//! Preparing a PostgreSQL database for the store: the migrations (additive, recorded in
//! `tasker_core_migrations`, skipped without a lock once applied) and the id sequences the
//! store takes ids from. Must not hold the store's own statements.

use super::pooling::{in_session, prepared, Session};
use sqlx::postgres::PgPool;
use tasker_model::{TaskerError, TaskerResult};

/// The migrations, in order (`migrations/postgres/`).
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_tasker_tables.sql",
        include_str!("../../../migrations/postgres/0001_tasker_tables.sql"),
    ),
    (
        "0002_tasker_core.sql",
        include_str!("../../../migrations/postgres/0002_tasker_core.sql"),
    ),
    (
        "0003_tasker_core_insights.sql",
        include_str!("../../../migrations/postgres/0003_tasker_core_insights.sql"),
    ),
    (
        "0004_tasker_schema_conformance.sql",
        include_str!("../../../migrations/postgres/0004_tasker_schema_conformance.sql"),
    ),
    (
        "0005_tasker_core_processes.sql",
        include_str!("../../../migrations/postgres/0005_tasker_core_processes.sql"),
    ),
    (
        "0006_tasker_core_retention.sql",
        include_str!("../../../migrations/postgres/0006_tasker_core_retention.sql"),
    ),
    (
        "0007_tasker_core_listing.sql",
        include_str!("../../../migrations/postgres/0007_tasker_core_listing.sql"),
    ),
    (
        "0008_tasker_core_shared_gate.sql",
        include_str!("../../../migrations/postgres/0008_tasker_core_shared_gate.sql"),
    ),
    (
        "0009_tasker_core_listing_by_template.sql",
        include_str!("../../../migrations/postgres/0009_tasker_core_listing_by_template.sql"),
    ),
    (
        "0010_tasker_core_listing_by_creation.sql",
        include_str!("../../../migrations/postgres/0010_tasker_core_listing_by_creation.sql"),
    ),
    (
        "0011_tasker_core_task_priorities.sql",
        include_str!("../../../migrations/postgres/0011_tasker_core_task_priorities.sql"),
    ),
];

/// Serialises schema changes of engines starting at the same time: "tskm".
const MIGRATION_LOCK: i32 = i32::from_be_bytes(*b"tskm");

/// Runs the migrations not yet applied, each in a transaction of its own under an advisory
/// lock, and records them in `tasker_core_migrations`. A database that has them all is not
/// locked at all: an engine starting beside running ones (a deploy) must not take table locks, since
/// `CREATE INDEX IF NOT EXISTS` and `ALTER TABLE` lock their table before finding there is
/// nothing to do, and with other engines writing that deadlocked.
pub(super) async fn migrate(pool: &PgPool) -> Result<(), sqlx::Error> {
    let applied = |names: Vec<String>| MIGRATIONS.iter().all(|(n, _)| names.iter().any(|a| a == n));
    let mut session = Session::open(pool).await?;
    let names = sqlx::query_scalar::<_, String>("SELECT name FROM tasker_core_migrations")
        .persistent(prepared())
        .fetch_all(&mut *session)
        .await;
    drop(session);
    if names.is_ok_and(applied) {
        return Ok(());
    }
    // Each migration commits on its own, under the lock: a migration's locks are held until
    // its commit, and one holding a table while it waits for another deadlocked with
    // writers that lock the two in the other order (0007's two index builds did).
    let mut ledger = true;
    for (name, sql) in MIGRATIONS {
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, 0)")
            .persistent(prepared())
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
        if std::mem::take(&mut ledger) {
            sqlx::raw_sql(
                "CREATE TABLE IF NOT EXISTS tasker_core_migrations ( \
                    name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
            )
            .execute(&mut *tx)
            .await?;
        }
        // Each is idempotent, so one recorded by an engine that raced this one is skipped
        // and one from before the ledger existed runs again harmlessly.
        let done: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM tasker_core_migrations WHERE name = $1)",
        )
        .persistent(prepared())
        .bind(*name)
        .fetch_one(&mut *tx)
        .await?;
        if !done {
            sqlx::raw_sql(*sql).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO tasker_core_migrations (name) VALUES ($1) ON CONFLICT DO NOTHING",
            )
            .persistent(prepared())
            .bind(*name)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// The sequence behind `table.column` (bigserial in our migration and in Tasker's schema).
pub(super) async fn sequence(pool: &PgPool, table: &str, column: &str) -> TaskerResult<String> {
    let doing = format!("finding the id sequence of {table}.{column}");
    let name: Option<String> = in_session(pool, doing, async |conn| {
        sqlx::query_scalar("SELECT pg_get_serial_sequence($1, $2)")
            .persistent(prepared())
            .bind(table)
            .bind(column)
            .fetch_one(conn)
            .await
    })
    .await?;
    name.ok_or_else(|| {
        TaskerError::Database(format!(
            "{table}.{column} has no sequence; tasker-core takes ids from it so they never collide with other writers"
        ))
    })
}
