//! [`SqliteStore`]: the embedded store, Tasker's tables in one SQLite file.

mod insights;
mod read;
mod write;

use crate::change::Change;
use crate::insights::{
    AnalyticsMetrics, HealthCounts, SlowQuery, SlowestStep, SlowestStepGroup, SlowestTask,
};
use crate::sql::codec::{db_error, parse_state, sqlite_time};
use crate::sql::plan::{self, apply_with_retry, refusal, Failure, Heads};
use crate::sql::runtime::StoreRuntime;
use crate::sql::templates::{plan_template, TemplateCache, TemplatePlan};
use crate::sql::view::assemble;
use crate::store::{Commit, Store, TaskView};
use parking_lot::Mutex;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tasker_model::{State, StepId, TaskId, TaskTemplate, TaskerError, TaskerResult, Timestamp};
use write::WriteError;

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
];

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections for a file: one writer at a time (WAL), the rest serve concurrent reads.
const FILE_CONNECTIONS: u32 = 4;

/// Tasker's tables in a SQLite file (or in memory), for an engine that needs no server.
///
/// - Opening applies the migrations (idempotent) and sets WAL, `synchronous = NORMAL`
///   (a commit survives the process crashing; the last commits may be lost if the machine
///   loses power), foreign keys and a busy timeout.
/// - **One process per file.** Ids are counted in memory, in blocks of 1,000 reserved in
///   the file (`sqlite_sequence`, after the largest id the file has used), so an id handed
///   out but never committed is not reused after a restart and two stores on one file do
///   not collide. But each store trusts its own cache of history heads (a disagreement is
///   caught, as a failed batch, not avoided), claims nothing, and SQLite serialises all
///   writers: use [`PostgresStore`](crate::sql::PostgresStore) for several engine
///   processes.
/// - `sqlite::memory:` is one private in-memory database, gone when the store is dropped.
/// - Threads: the store owns a small tokio runtime (`tasker-store` threads). `apply` runs
///   there and its future may be awaited from any executor; the other methods block and
///   must be called from threads outside an async runtime (Ruby threads, the engine's
///   start-up).
/// - Dropping the store closes its connections and stops its runtime (bounded waits).
pub struct SqliteStore {
    inner: Arc<Inner>,
    runtime: StoreRuntime,
}

struct Inner {
    pool: SqlitePool,
    describe: String,
    templates: TemplateCache,
    heads: Mutex<Heads>,
    /// Batches are applied one at a time even if `apply` is called before the previous
    /// commit finished.
    writer: tokio::sync::Mutex<()>,
    ids: Mutex<Ids>,
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
        Self::open_with(options, url.to_string(), in_memory)
    }

    /// Opens the SQLite file at `path`, creating it and the tables when missing.
    pub fn open_path(path: impl AsRef<std::path::Path>) -> TaskerResult<SqliteStore> {
        let path = path.as_ref();
        let options = SqliteConnectOptions::new().filename(path);
        Self::open_with(options, format!("sqlite://{}", path.display()), false)
    }

    fn open_with(
        options: SqliteConnectOptions,
        describe: String,
        in_memory: bool,
    ) -> TaskerResult<SqliteStore> {
        let runtime = StoreRuntime::new(2)?;
        let mut options = options
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(SqliteSynchronous::Normal)
            // A 32 MiB page cache (the default is 2 MiB): a batch of thousands of changes
            // touches more pages than that, and spilling them mid-transaction made large
            // batches about 1.5 times slower.
            .pragma("cache_size", "-32768");
        if !in_memory {
            options = options.journal_mode(SqliteJournalMode::Wal);
        }
        // No ping before handing out a connection: it is a round trip to the connection's
        // worker thread and finds nothing wrong with a local file.
        let pool_options = if in_memory {
            // Every connection would see its own empty database: keep exactly one, forever.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .test_before_acquire(false)
        } else {
            SqlitePoolOptions::new()
                .max_connections(FILE_CONNECTIONS)
                .test_before_acquire(false)
        };
        let opening = format!("opening {describe}");
        let pool = runtime.block_on(async {
            let pool = pool_options
                .connect_with(options)
                .await
                .map_err(|e| db_error(&opening, e))?;
            migrate(&pool).await.map_err(|e| db_error(&opening, e))?;
            Ok::<_, TaskerError>(pool)
        })?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                pool,
                describe,
                templates: TemplateCache::default(),
                heads: Mutex::new(Heads::default()),
                writer: tokio::sync::Mutex::new(()),
                ids: Mutex::new(Ids::default()),
            }),
            runtime,
        })
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        let pool = self.inner.pool.clone();
        self.runtime.shutdown(async move { pool.close().await });
    }
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

/// Ids reserved in the file and not handed out yet.
#[derive(Default)]
struct Ids {
    tasks: IdRange,
    steps: IdRange,
}

/// `next..=reserved` may be handed out without touching the file (empty at first).
#[derive(Default)]
struct IdRange {
    next: i64,
    reserved: i64,
}

/// Ids reserved at a time.
const ID_BLOCK: i64 = 1000;

impl Inner {
    /// `n` consecutive ids of `table`, from the block reserved in memory, or from a new
    /// block reserved in the file when that one is used up.
    fn take_ids(
        &self,
        range: &mut IdRange,
        table: IdTable,
        n: i64,
        runtime: &StoreRuntime,
    ) -> TaskerResult<i64> {
        if range.next == 0 || range.next + n - 1 > range.reserved {
            let size = n.max(ID_BLOCK);
            let first = runtime
                .block_on(reserve(&self.pool, table, size))
                .map_err(|e| {
                    db_error(
                        format!("reserving ids of {} in {}", table.name(), self.describe),
                        e,
                    )
                })?;
            *range = IdRange {
                next: first,
                reserved: first + size - 1,
            };
        }
        let first = range.next;
        range.next += n;
        Ok(first)
    }
}

/// The tables whose ids the store hands out.
#[derive(Clone, Copy)]
enum IdTable {
    Tasks,
    Steps,
}

impl IdTable {
    fn name(self) -> &'static str {
        match self {
            IdTable::Tasks => "tasker_tasks",
            IdTable::Steps => "tasker_workflow_steps",
        }
    }
}

/// Reserves `size` ids of `table` and returns the first: the block starts after the
/// largest id the table has ever used (its rows, and `sqlite_sequence`, where AUTOINCREMENT
/// remembers ids of deleted rows too), and its end is written to `sqlite_sequence`. So an
/// id handed out but never committed (the process died first) is not handed out again
/// after a restart, and two stores on one file never hand out the same id.
async fn reserve(pool: &SqlitePool, table: IdTable, size: i64) -> Result<i64, sqlx::Error> {
    let largest = match table {
        IdTable::Tasks => {
            "SELECT MAX(COALESCE((SELECT MAX(task_id) FROM tasker_tasks), 0), \
                        COALESCE((SELECT MAX(seq) FROM sqlite_sequence \
                                  WHERE name = 'tasker_tasks'), 0))"
        }
        IdTable::Steps => {
            "SELECT MAX(COALESCE((SELECT MAX(workflow_step_id) FROM tasker_workflow_steps), 0), \
                        COALESCE((SELECT MAX(seq) FROM sqlite_sequence \
                                  WHERE name = 'tasker_workflow_steps'), 0))"
        }
    };
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let largest: i64 = sqlx::query_scalar(largest).fetch_one(&mut *tx).await?;
    let last = largest + size;
    sqlx::query(
        "INSERT INTO sqlite_sequence (name, seq) SELECT ?1, ?2 \
         WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = ?1)",
    )
    .bind(table.name())
    .bind(last)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE sqlite_sequence SET seq = ?2 WHERE name = ?1")
        .bind(table.name())
        .bind(last)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(largest + 1)
}

impl Inner {
    async fn apply(&self, batch: Vec<Change>) -> TaskerResult<()> {
        let _writer = self.writer.lock().await;
        let batch = &batch;
        apply_with_retry(batch, &self.heads, |all| self.attempt(batch, all)).await
    }

    async fn attempt(&self, batch: &[Change], all: bool) -> Result<(), Failure> {
        let doing = || {
            format!(
                "writing a batch of {} changes to {}",
                batch.len(),
                self.describe
            )
        };
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| db_error(doing(), e))?;
        let wanted = self.heads.lock().wanted(batch, all);
        let loaded = write::load_heads(&mut tx, &wanted)
            .await
            .map_err(|e| db_error(doing(), e))?;
        let plan = {
            let heads = self.heads.lock();
            plan::check(batch, &heads, &loaded, &self.templates, &self.describe)
                .map_err(|e| refusal(e, batch, &heads, all))?
        };
        write::write(&mut tx, &plan).await.map_err(|e| match e {
            WriteError::Stale => Failure::Stale,
            WriteError::Sql(e) => db_error(doing(), e).into(),
        })?;
        tx.commit().await.map_err(|e| db_error(doing(), e))?;
        self.heads.lock().commit(&plan);
        Ok(())
    }

    async fn register(&self, template: &TemplatePlan) -> Result<(i64, Vec<i64>), sqlx::Error> {
        let now = sqlite_time(Timestamp::now());
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let namespace = find_or_insert(
            &mut tx,
            || {
                sqlx::query_scalar(
                    "SELECT task_namespace_id FROM tasker_task_namespaces WHERE name = ?1",
                )
                .bind(&template.key.namespace)
            },
            sqlx::query_scalar(
                "INSERT INTO tasker_task_namespaces (name, created_at, updated_at) \
                 VALUES (?1, ?2, ?2) ON CONFLICT DO NOTHING RETURNING task_namespace_id",
            )
            .bind(&template.key.namespace)
            .bind(&now),
        )
        .await?;
        let mut systems = Vec::with_capacity(template.dependent_systems.len());
        for name in &template.dependent_systems {
            systems.push(
                find_or_insert(
                    &mut tx,
                    || {
                        sqlx::query_scalar(
                        "SELECT dependent_system_id FROM tasker_dependent_systems WHERE name = ?1",
                    )
                    .bind(name)
                    },
                    sqlx::query_scalar(
                        "INSERT INTO tasker_dependent_systems (name, created_at, updated_at) \
                         VALUES (?1, ?2, ?2) ON CONFLICT DO NOTHING RETURNING dependent_system_id",
                    )
                    .bind(name)
                    .bind(&now),
                )
                .await?,
            );
        }
        let named_task = find_or_insert(
            &mut tx,
            || sqlx::query_scalar(
                "SELECT named_task_id FROM tasker_named_tasks \
                 WHERE task_namespace_id = ?1 AND name = ?2 AND version = ?3",
            )
            .bind(namespace)
            .bind(&template.key.name)
            .bind(&template.key.version),
            sqlx::query_scalar(
                "INSERT INTO tasker_named_tasks \
                 (name, description, task_namespace_id, version, configuration, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT DO NOTHING RETURNING named_task_id",
            )
            .bind(&template.key.name)
            .bind(&template.description)
            .bind(namespace)
            .bind(&template.key.version)
            .bind(&template.configuration)
            .bind(&now),
        )
        .await?;
        let mut steps = Vec::with_capacity(template.steps.len());
        for step in &template.steps {
            let system = systems[step.dependent_system];
            let named_step = find_or_insert(
                &mut tx,
                || {
                    sqlx::query_scalar(
                        "SELECT named_step_id FROM tasker_named_steps \
                     WHERE dependent_system_id = ?1 AND name = ?2",
                    )
                    .bind(system)
                    .bind(&step.name)
                },
                sqlx::query_scalar(
                    "INSERT INTO tasker_named_steps \
                     (dependent_system_id, name, description, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT DO NOTHING RETURNING named_step_id",
                )
                .bind(system)
                .bind(&step.name)
                .bind(&step.description)
                .bind(&now),
            )
            .await?;
            find_or_insert(
                &mut tx,
                || {
                    sqlx::query_scalar(
                        "SELECT id FROM tasker_named_tasks_named_steps \
                     WHERE named_task_id = ?1 AND named_step_id = ?2",
                    )
                    .bind(named_task)
                    .bind(named_step)
                },
                sqlx::query_scalar(
                    "INSERT INTO tasker_named_tasks_named_steps \
                     (named_task_id, named_step_id, skippable, default_retryable, \
                      default_retry_limit, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT DO NOTHING RETURNING id",
                )
                .bind(named_task)
                .bind(named_step)
                .bind(step.skippable)
                .bind(step.default_retryable)
                .bind(step.default_retry_limit)
                .bind(&now),
            )
            .await?;
            steps.push(named_step);
        }
        tx.commit().await?;
        Ok((named_task, steps))
    }
}

type Scalar<'q> = sqlx::query::QueryScalar<'q, Sqlite, i64, sqlx::sqlite::SqliteArguments>;

/// Runs `find`; when it finds nothing, `insert` (which does nothing on a unique conflict,
/// i.e. when another writer just created the row), and when that returns nothing, `find`
/// again.
async fn find_or_insert<'q>(
    tx: &mut Transaction<'static, Sqlite>,
    find: impl Fn() -> Scalar<'q>,
    insert: Scalar<'q>,
) -> Result<i64, sqlx::Error> {
    if let Some(id) = find().fetch_optional(&mut **tx).await? {
        return Ok(id);
    }
    if let Some(id) = insert.fetch_optional(&mut **tx).await? {
        return Ok(id);
    }
    find().fetch_one(&mut **tx).await
}

impl Store for SqliteStore {
    fn apply(&self, batch: Vec<Change>) -> Commit {
        let inner = self.inner.clone();
        self.runtime
            .spawn_commit(format!("store {}", self.inner.describe), async move {
                inner.apply(batch).await
            })
    }

    fn register_template(&self, template: &TaskTemplate) -> TaskerResult<()> {
        let plan = plan_template(template)?;
        let (named_task, steps) =
            self.runtime
                .block_on(self.inner.register(&plan))
                .map_err(|e| {
                    db_error(
                        format!(
                            "registering template {} ({}) in {}",
                            plan.key, template.source, self.inner.describe
                        ),
                        e,
                    )
                })?;
        self.inner.templates.insert(plan.rows(named_task, &steps));
        Ok(())
    }

    fn allocate_ids(&self, steps: u32) -> TaskerResult<(TaskId, Vec<StepId>)> {
        let n = i64::from(steps);
        let mut ids = self.inner.ids.lock();
        let task = self
            .inner
            .take_ids(&mut ids.tasks, IdTable::Tasks, 1, &self.runtime)?;
        let first = self
            .inner
            .take_ids(&mut ids.steps, IdTable::Steps, n, &self.runtime)?;
        Ok((TaskId(task), (0..n).map(|i| StepId(first + i)).collect()))
    }

    fn task(&self, id: TaskId) -> TaskerResult<Option<TaskView>> {
        let rows = self
            .runtime
            .block_on(read::task(&self.inner.pool, id))
            .map_err(|e| {
                e.into_tasker(format!("reading task {id} from {}", self.inner.describe))
            })?;
        Ok(rows.map(|r| assemble(r, &self.inner.templates)))
    }

    fn task_state(&self, id: TaskId) -> TaskerResult<Option<State>> {
        let row: Option<(i64, Option<String>)> = self
            .runtime
            .block_on(
                sqlx::query_as(
                    "SELECT t.task_id, tr.to_state FROM tasker_tasks t \
                     LEFT JOIN tasker_task_transitions tr \
                       ON tr.task_id = t.task_id AND tr.most_recent \
                     WHERE t.task_id = ?1",
                )
                .bind(id.0)
                .fetch_optional(&self.inner.pool),
            )
            .map_err(|e| {
                db_error(
                    format!(
                        "reading the state of task {id} from {}",
                        self.inner.describe
                    ),
                    e,
                )
            })?;
        row.map(|(_, s)| s.map_or(Ok(State::Pending), |s| parse_state(&s)))
            .transpose()
    }

    fn unfinished_tasks(&self) -> TaskerResult<Vec<TaskId>> {
        let ids: Vec<i64> = self
            .runtime
            .block_on(
                sqlx::query_scalar(
                    "SELECT t.task_id FROM tasker_tasks t \
                     LEFT JOIN tasker_task_transitions tr \
                       ON tr.task_id = t.task_id AND tr.most_recent \
                     WHERE COALESCE(tr.to_state, 'pending') IN ('pending', 'in_progress') \
                     ORDER BY t.created_at, t.task_id",
                )
                .fetch_all(&self.inner.pool),
            )
            .map_err(|e| {
                db_error(
                    format!("listing unfinished tasks in {}", self.inner.describe),
                    e,
                )
            })?;
        Ok(ids.into_iter().map(TaskId).collect())
    }

    fn health_counts(&self, now: Timestamp) -> TaskerResult<HealthCounts> {
        self.runtime
            .block_on(insights::health_counts(&self.inner.pool, now))
            .map_err(|e| db_error(format!("counting health in {}", self.inner.describe), e))
    }

    fn analytics_metrics(
        &self,
        since: Timestamp,
        now: Timestamp,
    ) -> TaskerResult<AnalyticsMetrics> {
        self.runtime
            .block_on(insights::analytics_metrics(&self.inner.pool, since, now))
            .map_err(|e| db_error(format!("computing analytics in {}", self.inner.describe), e))
    }

    fn slowest_steps(&self, query: &SlowQuery) -> TaskerResult<Vec<SlowestStep>> {
        self.runtime
            .block_on(insights::slowest_steps(&self.inner.pool, query))
            .map_err(|e| {
                e.into_tasker(format!(
                    "finding the slowest steps in {}",
                    self.inner.describe
                ))
            })
    }

    fn slowest_step_groups(&self, query: &SlowQuery) -> TaskerResult<Vec<SlowestStepGroup>> {
        self.runtime
            .block_on(insights::slowest_step_groups(&self.inner.pool, query))
            .map_err(|e| {
                db_error(
                    format!("grouping the slowest steps in {}", self.inner.describe),
                    e,
                )
            })
    }

    fn slowest_tasks(&self, query: &SlowQuery) -> TaskerResult<Vec<SlowestTask>> {
        self.runtime
            .block_on(insights::slowest_tasks(&self.inner.pool, query))
            .map_err(|e| {
                e.into_tasker(format!(
                    "finding the slowest tasks in {}",
                    self.inner.describe
                ))
            })
    }

    fn close(&self) {
        let pool = self.inner.pool.clone();
        self.runtime
            .close_within(&self.inner.describe, async move { pool.close().await });
    }

    fn describe(&self) -> String {
        self.inner.describe.clone()
    }
}
