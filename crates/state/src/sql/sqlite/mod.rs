//! [`SqliteStore`]: the embedded store, Tasker's tables in one SQLite file. This module holds
//! what SQLite does its own way (opening, migrations, ids, the write script, the SQL text);
//! the store's body is `sql/store.rs`, shared with PostgreSQL.

mod checkpoint;
mod file_lock;
mod ids;
mod insights;
mod listing;
mod retention;
mod sql;
mod write;

use crate::sql::codec::{db_error, parse_sqlite_time, sqlite_time, ReadError};
use crate::sql::delegate::delegate_store;
use crate::sql::dialect::{
    bind_param, Column, Dialect, Param, Query, ReadRow, SqlDb, Statements, WriteError,
};
use crate::sql::plan::Plan;
use crate::sql::runtime::StoreRuntime;
use crate::sql::store::SqlStore;
use crate::store::Durability;
use checkpoint::{Checkpointer, BACKSTOP_PAGES};
use file_lock::FileLock;
use ids::Ids;
use parking_lot::Mutex;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;
use tasker_model::{StepId, TaskId, TaskerError, TaskerResult, Timestamp};

/// The migrations, in order (`migrations/sqlite/`).
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_tasker_tables.sql",
        include_str!("../../../migrations/sqlite/0001_tasker_tables.sql"),
    ),
    (
        "0002_tasker_core_insights.sql",
        include_str!("../../../migrations/sqlite/0002_tasker_core_insights.sql"),
    ),
    (
        "0003_tasker_other_tables.sql",
        include_str!("../../../migrations/sqlite/0003_tasker_other_tables.sql"),
    ),
    (
        "0004_tasker_core_unfinished.sql",
        include_str!("../../../migrations/sqlite/0004_tasker_core_unfinished.sql"),
    ),
    (
        "0005_tasker_core_retention.sql",
        include_str!("../../../migrations/sqlite/0005_tasker_core_retention.sql"),
    ),
    (
        "0006_tasker_core_listing.sql",
        include_str!("../../../migrations/sqlite/0006_tasker_core_listing.sql"),
    ),
    (
        "0007_tasker_core_listing_by_creation.sql",
        include_str!("../../../migrations/sqlite/0007_tasker_core_listing_by_creation.sql"),
    ),
    (
        "0008_tasker_core_task_priorities.sql",
        include_str!("../../../migrations/sqlite/0008_tasker_core_task_priorities.sql"),
    ),
];

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections for a file's reads (WAL lets them run beside the writer).
const FILE_CONNECTIONS: u32 = 4;

/// Tasker's tables in a SQLite file (or in memory), for an engine that needs no server.
///
/// - Opening applies the migrations (idempotent) and sets WAL, `synchronous = NORMAL`
///   (a commit survives the process crashing; the last commits may be lost if the machine
///   loses power), foreign keys and a busy timeout.
/// - **One process per file**, enforced: a second process opening the file is refused,
///   naming the holder (`file_lock.rs`). Ids are counted in memory, in blocks of 1,000 reserved in
///   the file (`sqlite_sequence`, after the largest id the file has used), so an id handed
///   out but never committed is not reused after a restart and two stores on one file do
///   not collide. But each store trusts its own cache of history heads (a disagreement is
///   caught, as a failed batch, not avoided), claims nothing, and SQLite serialises all
///   writers: use [`PostgresStore`](crate::sql::PostgresStore) for several engine
///   processes.
/// - `sqlite://path?mode=ro` opens the file read-only, for inspection: no lock, no
///   migrations (the file must exist and hold the tables); every write fails.
/// - `sqlite::memory:` is one private in-memory database, gone when the store is dropped.
/// - Threads: the store owns a small tokio runtime (`tasker-store` threads). `apply` runs
///   there and its future may be awaited from any executor; the other methods block and
///   must be called from threads outside an async runtime (Ruby threads, the engine's
///   start-up).
/// - Dropping the store closes its connections and stops its runtime (bounded waits).
pub struct SqliteStore(SqlStore<SqliteDb>);

delegate_store!(SqliteStore);

/// What SQLite does its own way (see [`Dialect`]).
pub(crate) struct SqliteDb {
    pool: SqlitePool,
    /// The batch writes' one connection, kept open (see `open_with`). For `:memory:` the
    /// same one-connection pool as `pool`.
    writer: SqlitePool,
    /// A file's WAL checkpoints, off the writer's commits (`checkpoint.rs`); none in memory
    /// or read-only.
    checkpoints: Option<Checkpointer>,
    ids: Mutex<Ids>,
    /// A file's store holds it against other processes until closed (`file_lock.rs`).
    lock: Mutex<Option<FileLock>>,
}

impl SqliteStore {
    /// Opens `url` (`sqlite://path`, `sqlite:path` or `sqlite::memory:`), creating the file
    /// and the tables when missing.
    pub fn open(url: &str) -> TaskerResult<SqliteStore> {
        let options = SqliteConnectOptions::from_str(url).map_err(|e| {
            TaskerError::validation(
                format!("database_url {url}"),
                format!("is not a SQLite URL: {e}"),
            )
        })?;
        let in_memory = url.trim_start_matches("sqlite:").starts_with(":memory:")
            || url.contains("mode=memory");
        let read_only = url
            .split_once('?')
            .is_some_and(|(_, query)| query.split('&').any(|pair| pair == "mode=ro"));
        Self::open_with(options, url.to_string(), in_memory, read_only)
    }

    /// Opens the SQLite file at `path`, creating it and the tables when missing.
    pub fn open_path(path: impl AsRef<std::path::Path>) -> TaskerResult<SqliteStore> {
        let path = path.as_ref();
        let options = SqliteConnectOptions::new().filename(path);
        Self::open_with(
            options,
            format!("sqlite://{}", path.display()),
            false,
            false,
        )
    }

    fn open_with(
        options: SqliteConnectOptions,
        describe: String,
        in_memory: bool,
        read_only: bool,
    ) -> TaskerResult<SqliteStore> {
        // Before anything touches the file: another process's engine may be using it. A
        // read-only store (`?mode=ro`, for inspection) writes nothing, so it may look at a
        // file another process's engine holds.
        let lock = if in_memory || read_only {
            None
        } else {
            Some(FileLock::acquire(options.get_filename(), &describe)?)
        };
        let runtime = StoreRuntime::new(2)?;
        let mut options = options
            .create_if_missing(!read_only)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(SqliteSynchronous::Normal)
            // A 32 MiB page cache (the default is 2 MiB): a batch of thousands of changes
            // touches more pages than that, and spilling them mid-transaction made large
            // batches about 1.5 times slower.
            .pragma("cache_size", "-32768");
        if !in_memory && !read_only {
            // The checkpoint connection copies the WAL into the file after commits; the
            // connections' own checkpoints (inside a commit) are only the bound on the WAL
            // (`checkpoint.rs`).
            options = options
                .journal_mode(SqliteJournalMode::Wal)
                .pragma("wal_autocheckpoint", BACKSTOP_PAGES);
        }
        // No ping before handing out a connection: it is a round trip to the connection's
        // worker thread and finds nothing wrong with a local file.
        let pool_options = if in_memory {
            // Every connection would see its own empty database: keep exactly one, forever.
            one_connection()
        } else {
            SqlitePoolOptions::new()
                .max_connections(FILE_CONNECTIONS)
                .test_before_acquire(false)
        };
        let opening = format!("opening {describe}");
        let (pool, writer, checkpoints) = runtime.block_on(async {
            let pool = pool_options
                .connect_with(options.clone())
                .await
                .map_err(|e| db_error(&opening, e))?;
            if !read_only {
                migrate(&pool).await.map_err(|e| db_error(&opening, e))?;
            }
            // The batch writes keep one connection of their own, open for the store's life.
            // SQLite drops a connection's page cache whenever another connection wrote since
            // its last transaction; batches taking whichever pooled connection was free
            // re-read the B-tree pages of every index they touched (about 55 `pread`s per
            // 4-step task, strace). The connection that wrote last keeps its cache.
            let (writer, checkpoints) = if in_memory || read_only {
                (pool.clone(), None)
            } else {
                let checkpoints = Checkpointer::start(options.clone(), &runtime)
                    .await
                    .map_err(|e| db_error(&opening, e))?;
                let writer = one_connection()
                    .connect_with(options)
                    .await
                    .map_err(|e| db_error(&opening, e))?;
                (writer, Some(checkpoints))
            };
            Ok::<_, TaskerError>((pool, writer, checkpoints))
        })?;
        let db = SqliteDb {
            pool,
            writer,
            checkpoints,
            ids: Mutex::new(Ids::default()),
            lock: Mutex::new(lock),
        };
        Ok(SqliteStore(SqlStore::new(db, describe, runtime)))
    }
}

/// A pool of exactly one connection, kept open for the store's life: an in-memory database
/// (each connection would see its own empty one) and the batch writer's own connection.
fn one_connection() -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .test_before_acquire(false)
}

/// Runs every migration, each in one write transaction (its statements are idempotent).
async fn migrate(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    for (_name, sql) in MIGRATIONS {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::raw_sql(*sql).execute(&mut *tx).await?;
        tx.commit().await?;
    }
    Ok(())
}

impl SqlDb for Sqlite {
    fn bind<'q>(query: Query<'q, Sqlite>, param: &Param<'_>) -> Query<'q, Sqlite> {
        // DATETIME text, and ids as JSON text for `jsonb_each`.
        bind_param(query, param, sqlite_time, |ids| {
            serde_json::to_string(ids).expect("ids serialize")
        })
    }
}

impl ReadRow for SqliteRow {
    fn get<T: Column>(&self, i: usize) -> Result<T, sqlx::Error> {
        self.try_get(i)
    }

    fn time(&self, i: usize) -> Result<Timestamp, ReadError> {
        Ok(parse_sqlite_time(&self.try_get::<String, _>(i)?)?)
    }

    fn opt_time(&self, i: usize) -> Result<Option<Timestamp>, ReadError> {
        Ok(self
            .try_get::<Option<String>, _>(i)?
            .map(|t| parse_sqlite_time(&t))
            .transpose()?)
    }

    fn opt_int(&self, i: usize) -> Result<Option<i64>, sqlx::Error> {
        self.try_get(i)
    }
}

impl Dialect for SqliteDb {
    type Row = SqliteRow;
    type Db = Sqlite;
    /// One write transaction (`BEGIN IMMEDIATE`: SQLite serialises writers), committed by
    /// [`Dialect::end_batch`].
    type Writer = Transaction<'static, Sqlite>;
    type Reader = PoolConnection<Sqlite>;

    const SQL: Statements = sql::STATEMENTS;

    fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn begin_read(&self) -> Result<PoolConnection<Sqlite>, sqlx::Error> {
        self.pool.acquire().await
    }

    async fn end_read(_reader: PoolConnection<Sqlite>) -> Result<(), sqlx::Error> {
        Ok(())
    }

    async fn begin_batch(&self) -> Result<Self::Writer, sqlx::Error> {
        self.writer.begin_with("BEGIN IMMEDIATE").await
    }

    fn write<'e>(
        &'e self,
        writer: &'e mut Self::Writer,
        plan: &'e Plan,
        _durability: Durability,
    ) -> impl Future<Output = Result<(), WriteError>> + Send + 'e {
        // Every commit is made the same way: WAL with `synchronous = NORMAL` syncs at
        // checkpoints only, so none waits for the disk.
        write::write(writer, plan)
    }

    async fn end_batch(writer: Self::Writer) -> Result<(), sqlx::Error> {
        writer.commit().await
    }

    fn allocate_ids(
        &self,
        runtime: &StoreRuntime,
        store: &str,
        steps: u32,
    ) -> TaskerResult<(TaskId, Vec<StepId>)> {
        self.ids.lock().allocate(&self.pool, runtime, store, steps)
    }

    fn committed(&self, _plan: &Plan) {
        if let Some(checkpoints) = &self.checkpoints {
            checkpoints.committed();
        }
    }

    async fn close(&self) {
        if let Some(checkpoints) = &self.checkpoints {
            checkpoints.close().await;
        }
        self.writer.close().await;
        self.pool.close().await;
        self.lock.lock().take();
    }
}
