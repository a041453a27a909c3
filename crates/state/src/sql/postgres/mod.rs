//! [`PostgresStore`]: Tasker's tables in PostgreSQL, shared by any number of engines and by
//! the Tasker Rails engine.

mod claims;
mod insights;
mod read;
mod write;

use crate::change::Change;
use crate::insights::{
    AnalyticsMetrics, HealthCounts, SlowQuery, SlowestStep, SlowestStepGroup, SlowestTask,
};
use crate::sql::codec::{db_error, parse_state, redact_url, to_naive};
use crate::sql::plan::{self, apply_with_retry, refusal, Failure, Heads};
use crate::sql::runtime::StoreRuntime;
use crate::sql::templates::{plan_template, TemplateCache, TemplatePlan};
use crate::sql::view::assemble;
use crate::store::{Commit, Store, TaskView};
use claims::Owner;
use parking_lot::Mutex;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use std::collections::VecDeque;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tasker_model::{State, StepId, TaskId, TaskTemplate, TaskerError, TaskerResult, Timestamp};
use write::WriteError;

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
];

/// `tasker_core_step_readiness` (`migrations/postgres/optional/`), not applied on open.
const STEP_READINESS: &str =
    include_str!("../../../migrations/postgres/optional/step_readiness.sql");

/// Serialises schema changes of engines starting at the same time: "tskm".
const MIGRATION_LOCK: i32 = i32::from_be_bytes(*b"tskm");

/// Ids taken from a sequence at a time; the common `allocate_ids` call touches no database.
const ID_BLOCK: usize = 1000;
/// Pool size: one writer (the state actor) and readers on Ruby threads.
const POOL_CONNECTIONS: u32 = 5;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// A pool connection unused this long is closed, so an idle engine holds little more than
/// its lock connection (servers cap connections, typically at 100).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A pool connection idle this long is pinged before it is used.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Tasker's tables in PostgreSQL, for production and for several engine processes (on
/// several machines) against one database.
///
/// - Opening applies the migrations (idempotent, `CREATE … IF NOT EXISTS`, under an
///   advisory lock so engines starting together do not race); on a database where the
///   Tasker Rails engine already created the tables, they are used as they are; tables an
///   earlier tasker-core created are brought to Tasker's exact column types (0004, see
///   docs/tasker-schema.md). Tables are
///   unqualified: they live in the first schema of the connection's `search_path` (set one
///   with `?options=-c%20search_path%3Dmy_schema` in the URL).
/// - Ids come from the tables' own sequences (`tasker_tasks.task_id`,
///   `tasker_workflow_steps.workflow_step_id`), taken 1,000 at a time and handed out
///   from memory, so they never collide with other engines or the Rails app (they are not
///   contiguous across engines).
/// - Tasks are owned through claims ([`Store::claim_tasks`]): rows of
///   `tasker_core_task_claims` naming this store, live while the store holds one session
///   advisory lock on a connection it keeps (see `claims.rs`). A task this store creates is
///   claimed in the transaction that creates it and released in the one that finishes it
///   (complete, error, cancelled, resolved_manually).
/// - Threads: `apply` runs on the store's own runtime and may be awaited from any executor;
///   the other methods block and must be called from threads outside an async runtime
///   (Ruby threads, the engine's start-up).
/// - Dropping the store closes its pool and its claims connection (its claims can be taken
///   over at once) and stops its runtime, with bounded waits.
pub struct PostgresStore {
    inner: Arc<Inner>,
    runtime: StoreRuntime,
}

struct Inner {
    pool: PgPool,
    describe: String,
    templates: TemplateCache,
    heads: Mutex<Heads>,
    /// Batches are applied one at a time even if `apply` is called before the previous
    /// commit finished.
    writer: tokio::sync::Mutex<()>,
    ids: Mutex<IdBlocks>,
    task_sequence: String,
    step_sequence: String,
    /// This store as an owner of tasks; `owner_key` is its key, fixed for its life.
    owner: tokio::sync::Mutex<Owner>,
    owner_key: i32,
}

/// Ids taken from the sequences and not handed out yet, in increasing order.
#[derive(Default)]
struct IdBlocks {
    tasks: VecDeque<i64>,
    steps: VecDeque<i64>,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…` or `postgresql://…`) and prepares the tables.
    pub fn open(url: &str) -> TaskerResult<PostgresStore> {
        let describe = redact_url(url);
        let options = PgConnectOptions::from_str(url).map_err(|e| {
            TaskerError::validation(
                format!("database_url {describe}"),
                format!("is not a PostgreSQL URL: {}", redact_url(&e.to_string())),
            )
        })?;
        // Named in pg_stat_activity, unless the URL names the connections itself.
        let options = match options.get_application_name() {
            Some(_) => options,
            None => options.application_name("tasker-core"),
        };
        let runtime = StoreRuntime::new(2)?;
        let opening = format!("opening {describe}");
        let (pool, task_sequence, step_sequence, owner) = runtime.block_on(async {
            let pool = PgPoolOptions::new()
                .max_connections(POOL_CONNECTIONS)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .idle_timeout(IDLE_TIMEOUT)
                // sqlx pings every connection it hands out (a round trip, a quarter of a
                // small commit's time); ping only one that sat idle a while, which is when a
                // server restart or a dropped socket would have broken it.
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for >= PING_AFTER_IDLE {
                            sqlx::Connection::ping(conn).await?;
                        }
                        Ok(true)
                    })
                })
                .connect_with(options.clone())
                .await
                .map_err(|e| db_error(&opening, e))?;
            migrate(&pool).await.map_err(|e| db_error(&opening, e))?;
            let tasks = sequence(&pool, "tasker_tasks", "task_id").await?;
            let steps = sequence(&pool, "tasker_workflow_steps", "workflow_step_id").await?;
            let owner = Owner::open(options, &pool).await?;
            Ok::<_, TaskerError>((pool, tasks, steps, owner))
        })?;
        let inner = Arc::new(Inner {
            pool,
            describe,
            templates: TemplateCache::default(),
            heads: Mutex::new(Heads::default()),
            writer: tokio::sync::Mutex::new(()),
            ids: Mutex::new(IdBlocks::default()),
            task_sequence,
            step_sequence,
            owner_key: owner.key(),
            owner: tokio::sync::Mutex::new(owner),
        });
        runtime.spawn(keep_owner_alive(Arc::downgrade(&inner)));
        Ok(PostgresStore { inner, runtime })
    }

    /// Creates (or replaces) `tasker_core_step_readiness(task_id, now)`, TASKER.md's
    /// readiness rules in SQL (`migrations/postgres/optional/step_readiness.sql`). Optional:
    /// the engine decides readiness in Rust; the function serves inspection and tooling.
    /// Blocks; call it from a thread outside an async runtime.
    pub fn install_readiness_function(&self) -> TaskerResult<()> {
        self.runtime
            .block_on(sqlx::raw_sql(STEP_READINESS).execute(&self.inner.pool))
            .map(|_| ())
            .map_err(|e| {
                db_error(
                    format!(
                        "installing tasker_core_step_readiness in {}",
                        self.inner.describe
                    ),
                    e,
                )
            })
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        let inner = self.inner.clone();
        self.runtime.shutdown(async move {
            inner.owner.lock().await.close().await;
            inner.pool.close().await;
        });
    }
}

/// How often the owner connection is checked (and restored when lost).
const OWNER_CHECK: Duration = Duration::from_secs(10);

/// Checks the owner connection every [`OWNER_CHECK`], so a lost connection (which lets
/// other engines take this store's tasks) is restored within seconds, not at the next
/// `claim_tasks`. Ends with the store.
async fn keep_owner_alive(inner: std::sync::Weak<Inner>) {
    loop {
        tokio::time::sleep(OWNER_CHECK).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let checked = {
            let mut owner = inner.owner.lock().await;
            owner.ensure_alive().await
        };
        if let Err(e) = checked {
            eprintln!("tasker-core: store {}: {e}", inner.describe);
        }
    }
}

/// Runs every migration in one transaction, under an advisory lock.
async fn migrate(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, 0)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    for (_name, sql) in MIGRATIONS {
        sqlx::raw_sql(*sql).execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// The sequence behind `table.column` (bigserial in our migration and in Tasker's schema).
async fn sequence(pool: &PgPool, table: &str, column: &str) -> TaskerResult<String> {
    let name: Option<String> = sqlx::query_scalar("SELECT pg_get_serial_sequence($1, $2)")
        .bind(table)
        .bind(column)
        .fetch_one(pool)
        .await
        .map_err(|e| db_error(format!("finding the id sequence of {table}.{column}"), e))?;
    name.ok_or_else(|| {
        TaskerError::Database(format!(
            "{table}.{column} has no sequence; tasker-core takes ids from it so they never collide with other writers"
        ))
    })
}

impl Inner {
    async fn apply(&self, batch: Vec<Change>) -> TaskerResult<()> {
        let _writer = self.writer.lock().await;
        let batch = &batch;
        apply_with_retry(batch, &self.heads, |all| self.attempt(batch, all)).await
    }

    /// One try at the batch.
    async fn attempt(&self, batch: &[Change], all: bool) -> Result<(), Failure> {
        let doing = || {
            format!(
                "writing a batch of {} changes to {}",
                batch.len(),
                self.describe
            )
        };
        // No transaction: the write is one statement, atomic by itself, that verifies every
        // head the checks used (see `write.rs`); the heads read here are only as current as
        // a read in a READ COMMITTED transaction would be.
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| db_error(doing(), e))?;
        let wanted = self.heads.lock().wanted(batch, all);
        let loaded = write::load_heads(&mut conn, &wanted)
            .await
            .map_err(|e| db_error(doing(), e))?;
        let plan = {
            let heads = self.heads.lock();
            plan::check(batch, &heads, &loaded, &self.templates, &self.describe)
                .map_err(|e| refusal(e, batch, &heads, all))?
        };
        write::write(&mut conn, &plan, self.owner_key)
            .await
            .map_err(|e| match e {
                WriteError::Stale => Failure::Stale,
                WriteError::Sql(e) => db_error(doing(), e).into(),
            })?;
        self.heads.lock().commit(&plan);
        Ok(())
    }

    /// `n` ids from `sequence`, increasing.
    async fn take_ids(&self, sequence: &str, n: usize) -> TaskerResult<Vec<i64>> {
        let mut ids: Vec<i64> =
            sqlx::query_scalar("SELECT nextval($1::text::regclass) FROM generate_series(1, $2)")
                .bind(sequence)
                .bind(n as i32)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| db_error(format!("taking ids from {sequence}"), e))?;
        ids.sort_unstable();
        Ok(ids)
    }

    async fn register(&self, template: &TemplatePlan) -> Result<(i64, Vec<i64>), sqlx::Error> {
        let now = to_naive(Timestamp::now());
        let mut tx = self.pool.begin().await?;
        let namespace = find_or_insert(
            &mut tx,
            || {
                sqlx::query_scalar(
                    "SELECT task_namespace_id::bigint FROM tasker_task_namespaces WHERE name = $1",
                )
                .bind(&template.key.namespace)
            },
            sqlx::query_scalar(
                "INSERT INTO tasker_task_namespaces (name, created_at, updated_at) \
                 VALUES ($1, $2, $2) ON CONFLICT DO NOTHING RETURNING task_namespace_id::bigint",
            )
            .bind(&template.key.namespace)
            .bind(now),
        )
        .await?;
        let mut systems = Vec::with_capacity(template.dependent_systems.len());
        for name in &template.dependent_systems {
            systems.push(
                find_or_insert(
                    &mut tx,
                    || {
                        sqlx::query_scalar(
                            "SELECT dependent_system_id::bigint FROM tasker_dependent_systems \
                             WHERE name = $1",
                        )
                        .bind(name)
                    },
                    sqlx::query_scalar(
                        "INSERT INTO tasker_dependent_systems (name, created_at, updated_at) \
                         VALUES ($1, $2, $2) ON CONFLICT DO NOTHING RETURNING dependent_system_id::bigint",
                    )
                    .bind(name)
                    .bind(now),
                )
                .await?,
            );
        }
        let named_task = find_or_insert(
            &mut tx,
            || {
                sqlx::query_scalar(
                    "SELECT named_task_id::bigint FROM tasker_named_tasks \
                     WHERE task_namespace_id = $1 AND name = $2 AND version = $3",
                )
                .bind(namespace)
                .bind(&template.key.name)
                .bind(&template.key.version)
            },
            sqlx::query_scalar(
                "INSERT INTO tasker_named_tasks \
                 (name, description, task_namespace_id, version, configuration, created_at, \
                  updated_at) \
                 VALUES ($1, $2, $3, $4, $5::jsonb, $6, $6) \
                 ON CONFLICT DO NOTHING RETURNING named_task_id::bigint",
            )
            .bind(&template.key.name)
            .bind(&template.description)
            .bind(namespace)
            .bind(&template.key.version)
            .bind(&template.configuration)
            .bind(now),
        )
        .await?;
        let mut steps = Vec::with_capacity(template.steps.len());
        for step in &template.steps {
            let system = systems[step.dependent_system];
            let named_step = find_or_insert(
                &mut tx,
                || {
                    sqlx::query_scalar(
                        "SELECT named_step_id::bigint FROM tasker_named_steps \
                         WHERE dependent_system_id = $1 AND name = $2",
                    )
                    .bind(system)
                    .bind(&step.name)
                },
                sqlx::query_scalar(
                    "INSERT INTO tasker_named_steps \
                     (dependent_system_id, name, description, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $4) ON CONFLICT DO NOTHING RETURNING named_step_id::bigint",
                )
                .bind(system)
                .bind(&step.name)
                .bind(&step.description)
                .bind(now),
            )
            .await?;
            find_or_insert(
                &mut tx,
                || {
                    sqlx::query_scalar(
                        "SELECT id::bigint FROM tasker_named_tasks_named_steps \
                         WHERE named_task_id = $1 AND named_step_id = $2",
                    )
                    .bind(named_task)
                    .bind(named_step)
                },
                sqlx::query_scalar(
                    "INSERT INTO tasker_named_tasks_named_steps \
                     (named_task_id, named_step_id, skippable, default_retryable, \
                      default_retry_limit, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT DO NOTHING RETURNING id::bigint",
                )
                .bind(named_task)
                .bind(named_step)
                .bind(step.skippable)
                .bind(step.default_retryable)
                .bind(step.default_retry_limit)
                .bind(now),
            )
            .await?;
            steps.push(named_step);
        }
        tx.commit().await?;
        Ok((named_task, steps))
    }
}

type Scalar<'q> = sqlx::query::QueryScalar<'q, Postgres, i64, sqlx::postgres::PgArguments>;

/// Runs `find`; when it finds nothing, `insert` (which does nothing on a unique conflict,
/// i.e. when another engine just created the row), and when that returns nothing, `find`
/// again. Finding first keeps a re-registration from consuming sequence values.
async fn find_or_insert<'q>(
    tx: &mut Transaction<'static, Postgres>,
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

impl Store for PostgresStore {
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
        let n = steps as usize;
        let mut ids = self.inner.ids.lock();
        if ids.tasks.is_empty() {
            let block = self
                .runtime
                .block_on(self.inner.take_ids(&self.inner.task_sequence, ID_BLOCK))?;
            ids.tasks.extend(block);
        }
        if ids.steps.len() < n {
            let more = ID_BLOCK.max(n - ids.steps.len());
            let block = self
                .runtime
                .block_on(self.inner.take_ids(&self.inner.step_sequence, more))?;
            ids.steps.extend(block);
        }
        let task = ids.tasks.pop_front().expect("refilled above");
        Ok((TaskId(task), ids.steps.drain(..n).map(StepId).collect()))
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
                     WHERE t.task_id = $1",
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

    fn claim_tasks(&self, ids: &[TaskId]) -> TaskerResult<Vec<TaskId>> {
        self.runtime.block_on(async {
            self.inner
                .owner
                .lock()
                .await
                .claim(&self.inner.pool, ids)
                .await
        })
    }

    fn close(&self) {
        let inner = self.inner.clone();
        let describe = self.inner.describe.clone();
        self.runtime.close_within(&describe, async move {
            inner.owner.lock().await.close().await;
            inner.pool.close().await;
        });
    }

    fn describe(&self) -> String {
        self.inner.describe.clone()
    }
}
