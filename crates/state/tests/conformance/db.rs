//! [`Db`]: a database under test, and a snapshot of its tables.

use super::{run, PgSchema, SqliteFile, TABLES};
use std::sync::Arc;
use tasker_state::{open_store, Change, MemoryStore, Store};

/// A database under test: stores opened on it see the same data.
pub enum Db {
    Memory(Arc<MemoryStore>),
    Sqlite(SqliteFile),
    Postgres(PgSchema),
}

impl Db {
    pub fn memory() -> Db {
        Db::Memory(Arc::new(MemoryStore::new()))
    }

    pub fn sqlite(tag: &str) -> Db {
        Db::Sqlite(SqliteFile::new(tag))
    }

    pub fn postgres(tag: &str) -> Option<Db> {
        PgSchema::new(tag).map(Db::Postgres)
    }

    pub fn open(&self) -> Arc<dyn Store> {
        match self {
            Db::Memory(m) => m.clone(),
            Db::Sqlite(f) => open_store(&f.url()).expect("open SQLite store"),
            Db::Postgres(s) => open_store(&s.url()).expect("open PostgreSQL store"),
        }
    }

    /// A store on this database with the suite's [`template`](super::template) registered.
    pub fn open_registered(&self) -> Arc<dyn Store> {
        let store = self.open();
        store
            .register_template(&super::template())
            .expect("register");
        store
    }

    /// The tables' shape and a summary of their rows (None for memory).
    pub fn snapshot(&self) -> Option<Vec<String>> {
        match self {
            Db::Memory(_) => None,
            Db::Sqlite(f) => Some(run(sqlite_snapshot(f))),
            Db::Postgres(s) => Some(pg_snapshot(s)),
        }
    }
}

async fn sqlite_snapshot(file: &SqliteFile) -> Vec<String> {
    use sqlx::{AssertSqlSafe, Connection};
    let mut conn = file.connect_read_only().await.expect("open the file");
    let mut out: Vec<String> = sqlx::query_scalar(
        "SELECT type || ' ' || name || ' ' || COALESCE(sql, '') FROM sqlite_master ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .expect("schema");
    for t in TABLES {
        let row: String = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT '{t} ' || COUNT(*) || ' ' || COALESCE(MAX(updated_at), '') FROM {t}"
        )))
        .fetch_one(&mut conn)
        .await
        .expect("count");
        out.push(row);
    }
    conn.close().await.expect("close");
    out
}

fn pg_snapshot(schema: &PgSchema) -> Vec<String> {
    let mut out = schema.texts(
        "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || \
                COALESCE(column_default, '') || ' ' || is_nullable \
         FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY 1",
    );
    out.extend(schema.texts(
        "SELECT indexname || ' ' || indexdef FROM pg_indexes \
         WHERE schemaname = current_schema() ORDER BY 1",
    ));
    out.extend(schema.texts(
        "SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint \
         WHERE connamespace = current_schema()::regnamespace ORDER BY 1",
    ));
    for t in TABLES {
        out.extend(schema.texts(&format!(
            "SELECT '{t} ' || COUNT(*) || ' ' || COALESCE(MAX(updated_at)::text, '') FROM {t}"
        )));
    }
    out
}

/// `change` with `expect_sort_key: Some(key)`.
pub fn expecting(change: Change, key: i32) -> Change {
    change.expecting(key)
}
