//! [`PostgresStore`]: Tasker's tables in PostgreSQL, shared by any number of engines and by
//! the Tasker Rails engine. This module holds what PostgreSQL does its own way (connecting,
//! migrations, ids from sequences, claims, the one-statement write, the SQL text); the
//! store's body is `sql/store.rs`, shared with SQLite.

mod claims;
mod durable;
mod heartbeat;
mod held;
mod here;
mod ids;
mod insights;
mod listing;
mod migrate;
mod pauses;
mod pooling;
mod retention;
mod sql;
mod statement;
mod write;

use crate::sharing::{ProcessInfo, Sharing};
use crate::sql::codec::{db_error, from_naive, redact_url, to_naive, ReadError};
use crate::sql::delegate::delegate_store;
use crate::sql::dialect::{
    bind_param, Column, Dialect, FetchRows, Param, Query, ReadRow, SqlDb, Statements, WriteError,
};
use crate::sql::plan::Plan;
use crate::sql::runtime::StoreRuntime;
use crate::sql::store::SqlStore;
use crate::store::Durability;
use chrono::NaiveDateTime;
use claims::Owner;
use durable::{flush_wal, ServerStart};
use heartbeat::{heartbeat, listen};
use held::{HeldWriter, WriterSession};
use ids::IdBlocks;
use migrate::{migrate, sequence};
use parking_lot::Mutex;
use pooling::{prepared, Session};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow, Postgres};
use sqlx::Row;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tasker_model::{StepId, TaskId, TaskerError, TaskerResult, Timestamp};

/// `tasker_core_step_readiness` (`migrations/postgres/optional/`), not applied on open.
const STEP_READINESS: &str =
    include_str!("../../../migrations/postgres/optional/step_readiness.sql");

/// Pool size: readers on Ruby threads, claims, heartbeats and retention.
const POOL_CONNECTIONS: u32 = 4;
/// The batch writes' pool: the state actor commits one batch at a time.
const WRITER_CONNECTIONS: u32 = 1;
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
/// - Tasks are owned through claims ([`Store::claim_tasks`](crate::Store::claim_tasks)): rows of
///   `tasker_core_task_claims` naming this store's row of `tasker_core_processes`, live while
///   its heartbeat is younger than the lease timeout, each with a fencing token every write
///   checks (see `claims.rs`). A task this store creates is claimed in the statement that
///   creates it (unless its role is `client`) and released in the one that finishes it
///   (complete, error, cancelled, resolved_manually).
/// - Threads: `apply` runs on the store's own runtime and may be awaited from any executor;
///   the other methods block and must be called from threads outside an async runtime
///   (Ruby threads, the engine's start-up).
/// - Dropping the store hands its claims back (they can be taken over at once), closes its
///   pool and stops its runtime, with bounded waits.
pub struct PostgresStore(SqlStore<PgDb>);

delegate_store!(PostgresStore);

/// What PostgreSQL does its own way (see [`Dialect`]).
pub(crate) struct PgDb {
    pool: PgPool,
    /// The batch writes' connection (see `open_with`: generic plans), kept between batches
    /// (`held.rs`).
    writer: HeldWriter,
    ids: Mutex<IdBlocks>,
    task_sequence: String,
    step_sequence: String,
    /// This store as an owner of tasks.
    owner: Owner,
    /// For the LISTEN connection ([`Dialect::work_listener`]).
    options: PgConnectOptions,
    /// Connected through a transaction pooler (`pooling.rs`): no LISTEN.
    through_pooler: bool,
    /// When the server started, to tell a restart (`make_durable`).
    server_started: ServerStart,
}

/// A pool of at most `connections`, with the store's timeouts.
fn pool_options(connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .idle_timeout(IDLE_TIMEOUT)
        // sqlx pings every connection it hands out (a round trip, a quarter of a small
        // commit's time); ping only one that sat idle a while, which is when a server
        // restart or a dropped socket would have broken it.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_AFTER_IDLE {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…` or `postgresql://…`) and prepares the tables, as a
    /// `worker` with the default lease (see [`Sharing`]).
    pub fn open(url: &str) -> TaskerResult<PostgresStore> {
        Self::open_with(url, Sharing::default())
    }

    /// Like [`PostgresStore::open`], taking part in sharing tasks as `sharing` says.
    pub fn open_with(url: &str, sharing: Sharing) -> TaskerResult<PostgresStore> {
        let describe = redact_url(url);
        let (url, through_pooler) = pooling::from_url(url);
        let options = PgConnectOptions::from_str(&url).map_err(|e| {
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
        // The engine's statements reach rows by ids it knows (primary keys, and the unique
        // indexes on history heads), and those plans must hold however large the tables
        // grow. Left to its costs, the planner picks hash joins over sequential scans while
        // the tables are small or their statistics stale or absent (autovacuum off or
        // behind), and a prepared statement keeps that generic plan as the tables grow by
        // millions of rows. So these connections plan with index scans and nested loops
        // only; the insights queries, which aggregate whole tables, turn the others back on
        // for their own transactions (`insights.rs`). Planning per call instead
        // (`force_custom_plan`) also held, at 1.3 ms more per small batch.
        //
        // For the same reason no JIT and no parallel workers: with statistics stale, the
        // planner's row guesses (hundreds of rows per id where there is one) put small
        // lookups above `jit_above_cost` and the parallel thresholds, and compiling the plan
        // and starting two workers then cost 30-60 ms around a read of one index page
        // (listing the unfinished tasks of a 200,000-task store: 60 ms, 0.06 ms without).
        let options = if through_pooler {
            // Set per transaction instead (`pooling.rs`): a pooler refuses these.
            pooling::switch_on();
            options.statement_cache_capacity(0).extra_float_digits(None)
        } else {
            options.options([
                ("enable_seqscan", "off"),
                ("enable_hashjoin", "off"),
                ("enable_mergejoin", "off"),
                ("jit", "off"),
                ("max_parallel_workers_per_gather", "0"),
            ])
        };
        // The batch writes go through connections of their own that plan each statement
        // once (`force_generic_plan`). Left to choose, PostgreSQL plans the write for its
        // bound arrays at every call (the generic plan's guess of 100 rows per array never
        // looks cheaper than a custom plan for a 1-task batch): ~0.4 ms of a small batch's
        // ~1.3 ms in the server (`log_min_duration_statement`, one 4-step chain at a time).
        // Large batches are planned for their arrays all the same (`write.rs`). Only the
        // writes: reads whose plans use a partial index on a bound value (the unfinished
        // tasks, a state filter) cannot use it in a generic plan, and read large ranges
        // instead (`plans_at_scale` caught it).
        let writer_options = if through_pooler {
            options.clone()
        } else {
            options
                .clone()
                .options([("plan_cache_mode", "force_generic_plan")])
        };
        let runtime = StoreRuntime::new(2)?;
        let opening = format!("opening {describe}");
        let (pool, writer, task_sequence, step_sequence, owner, server_started) =
            runtime.block_on(async {
            let pool = pool_options(POOL_CONNECTIONS)
                .connect_with(options.clone())
                .await
                .map_err(|e| {
                    let e = db_error(&opening, e);
                    if e.to_string().contains("unsupported startup parameter") {
                        // PgBouncer's answer to the options the store sends when it can.
                        return TaskerError::Database(format!(
                            "{e}: through PgBouncer (or another pooler) add prepared_statements=false to the URL"
                        ));
                    }
                    e
                })?;
            migrate(&pool).await.map_err(|e| db_error(&opening, e))?;
            // Connected on first use: a store that only reads never opens one.
            let writer = pool_options(WRITER_CONNECTIONS).connect_lazy_with(writer_options);
            let tasks = sequence(&pool, "tasker_tasks", "task_id").await?;
            let steps = sequence(&pool, "tasker_workflow_steps", "workflow_step_id").await?;
            let owner = Owner::open(&pool, sharing).await?;
            let started = ServerStart::read(&pool)
                .await
                .map_err(|e| db_error(&opening, e))?;
            Ok::<_, TaskerError>((pool, writer, tasks, steps, owner, started))
        })?;
        let db = PgDb {
            pool,
            writer: HeldWriter::new(writer, PING_AFTER_IDLE),
            ids: Mutex::new(IdBlocks::default()),
            task_sequence,
            step_sequence,
            owner,
            options,
            through_pooler,
            server_started,
        };
        let store = SqlStore::new(db, describe, runtime);
        store
            .runtime()
            .spawn(heartbeat(Arc::downgrade(&store.inner)));
        Ok(PostgresStore(store))
    }

    /// Creates (or replaces) `tasker_core_step_readiness(task_id, now)`, TASKER.md's
    /// readiness rules in SQL (`migrations/postgres/optional/step_readiness.sql`). Optional:
    /// the engine decides readiness in Rust; the function serves inspection and tooling.
    /// Blocks; call it from a thread outside an async runtime.
    pub fn install_readiness_function(&self) -> TaskerResult<()> {
        self.0
            .runtime()
            .block_on(sqlx::raw_sql(STEP_READINESS).execute(&self.0.inner.db.pool))
            .map(|_| ())
            .map_err(|e| {
                db_error(
                    format!(
                        "installing tasker_core_step_readiness in {}",
                        self.0.inner.describe
                    ),
                    e,
                )
            })
    }
}

impl SqlDb for Postgres {
    fn bind<'q>(query: Query<'q, Postgres>, param: &Param<'_>) -> Query<'q, Postgres> {
        // `timestamp` (no zone), and ids as an `int8[]` for `ANY`.
        bind_param(query, param, to_naive, <[i64]>::to_vec)
    }
}

impl ReadRow for PgRow {
    fn get<T: Column>(&self, i: usize) -> Result<T, sqlx::Error> {
        self.try_get(i)
    }

    fn time(&self, i: usize) -> Result<Timestamp, ReadError> {
        Ok(from_naive(self.try_get::<NaiveDateTime, _>(i)?))
    }

    fn opt_time(&self, i: usize) -> Result<Option<Timestamp>, ReadError> {
        Ok(self.try_get::<Option<NaiveDateTime>, _>(i)?.map(from_naive))
    }

    fn opt_int(&self, i: usize) -> Result<Option<i64>, sqlx::Error> {
        Ok(self.try_get::<Option<i32>, _>(i)?.map(i64::from))
    }
}

impl Dialect for PgDb {
    type Row = PgRow;
    type Db = Postgres;
    /// A connection kept between batches (`held.rs`), no transaction: the write is one
    /// statement, atomic by itself, that
    /// verifies every head the checks used (see `write.rs`); the heads read before it are
    /// only as current as a read in a READ COMMITTED transaction would be. Through a
    /// transaction pooler the batch is one transaction (`pooling.rs`), with the same meaning.
    type Writer = WriterSession;
    type Reader = Session;

    const SQL: Statements = sql::STATEMENTS;

    fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// `pooling::prepared()`: false for the whole process once any store goes through a
    /// transaction pooler (`pooling.rs`), where named statements do not survive.
    fn persistent() -> bool {
        prepared()
    }

    // A named statement's plan goes generic after five calls, and the listing's generic plan
    // (every filter a maybe-NULL parameter, statistics stale) sorts all of a template's
    // tasks: 1.6-2.3 s a page at 1,000,000 tasks, against 1 ms planned per call
    // (benches/web_listing.rb).
    fn rows_planned<'e>(
        conn: &'e mut PgConnection,
        sql: &'static str,
        params: &'e [Param<'e>],
    ) -> impl Future<Output = Result<Vec<PgRow>, sqlx::Error>> + Send + 'e {
        let query = sqlx::query(sql).persistent(false);
        conn.fetch_rows(params.iter().fold(query, Postgres::bind))
    }

    async fn begin_read(&self) -> Result<Session, sqlx::Error> {
        Session::open(&self.pool).await
    }

    async fn end_read(reader: Session) -> Result<(), sqlx::Error> {
        reader.finish().await
    }

    async fn begin_batch(&self) -> Result<Self::Writer, sqlx::Error> {
        self.writer.begin().await
    }

    async fn write(
        &self,
        writer: &mut Self::Writer,
        plan: &Plan,
        durability: Durability,
    ) -> Result<(), WriteError> {
        let mut touched: Vec<TaskId> = plan.touched_tasks().collect();
        touched.sort_unstable();
        touched.dedup();
        if !self.owner.gone(&touched).is_empty() {
            // Lost already (the engine has not dropped them yet): no round trip needed.
            return Err(WriteError::Fenced);
        }
        let claiming = write::Claiming {
            owner: self.owner.key(),
            claim_new: self.owner.claims_new_tasks(),
            // The held tasks the batch touches (a task it creates is held only once the
            // batch commits, so it is not among them).
            fence: self.owner.held(&touched),
        };
        write::write(writer, plan, &claiming, durability).await
    }

    fn defers_durability(&self) -> bool {
        true
    }

    // On the writer's connection, as a batch: the reads' pool may be busy, and the writer
    // is idle while the actor waits for this.
    async fn make_durable(&self) -> Result<Option<String>, sqlx::Error> {
        let mut session = self.writer.begin().await?;
        let started = flush_wal(&mut session, self.owner.key()).await?;
        session.finish().await?;
        Ok(self.server_started.restarted(started))
    }

    async fn end_batch(writer: Self::Writer) -> Result<(), sqlx::Error> {
        writer.finish().await
    }

    fn allocate_ids(
        &self,
        runtime: &StoreRuntime,
        _store: &str,
        steps: u32,
    ) -> TaskerResult<(TaskId, Vec<StepId>)> {
        self.ids.lock().allocate(
            &self.pool,
            runtime,
            (&self.task_sequence, &self.step_sequence),
            steps as usize,
        )
    }

    async fn claim<'e>(&'e self, ids: &'e [TaskId]) -> TaskerResult<Vec<TaskId>> {
        self.owner.claim(&self.pool, ids).await
    }

    async fn release<'e>(&'e self, ids: &'e [TaskId]) -> TaskerResult<()> {
        self.owner.release(&self.pool, ids).await
    }

    async fn claim_available(&self, limit: usize) -> TaskerResult<Vec<TaskId>> {
        self.owner.claim_available(&self.pool, limit).await
    }

    async fn trade_cap_slots<'e>(
        &'e self,
        release: &'e [(String, i32)],
        want: &'e [(String, u32, u32)],
    ) -> TaskerResult<Vec<(String, i32)>> {
        self.owner.trade_cap_slots(&self.pool, release, want).await
    }

    async fn held_cap_slots(&self) -> TaskerResult<(Vec<(String, i32)>, std::time::Duration)> {
        self.owner.held_cap_slots(&self.pool).await
    }

    async fn shared_pauses(&self) -> TaskerResult<Option<crate::store::SharedPauses>> {
        pauses::read(&self.pool).await.map(Some)
    }

    async fn share_pause<'e>(
        &'e self,
        namespace: &'e str,
        template: Option<&'e str>,
        paused: bool,
    ) -> TaskerResult<()> {
        pauses::write(&self.pool, namespace, template, paused).await
    }

    async fn find_lost<'e>(&'e self, tasks: &'e [TaskId]) -> TaskerResult<Vec<TaskId>> {
        let held = self.owner.held(tasks);
        let mut lost = self.owner.find_lost(&self.pool, &held).await?;
        lost.extend(self.owner.gone(tasks));
        Ok(lost)
    }

    fn committed(&self, plan: &Plan) {
        self.owner.committed(plan)
    }

    fn sharing(&self) -> Option<&Sharing> {
        Some(self.owner.sharing())
    }

    fn take_lost_tasks(&self) -> Vec<TaskId> {
        self.owner.take_lost()
    }

    fn work_listener(
        &self,
        wake: crossbeam_channel::Sender<()>,
    ) -> Option<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>> {
        if self.through_pooler {
            // A pooler would hand the listening session to other clients: poll only.
            return None;
        }
        Some(Box::pin(listen(self.options.clone(), wake)))
    }

    fn set_capacity(&self, slots: usize) {
        self.owner.set_capacity(slots)
    }

    fn set_steps_in_flight(&self, steps: usize) {
        self.owner.set_steps_in_flight(steps)
    }

    async fn processes(&self) -> TaskerResult<Vec<ProcessInfo>> {
        self.owner.processes(&self.pool).await
    }

    async fn close(&self) {
        // First, and synchronously: the rest may outlast the close's time limit (held.rs).
        self.writer.stop_keeping();
        if self.pool.is_closed() {
            return;
        }
        if let Err(e) = self.owner.close(&self.pool).await {
            tasker_metrics::log_warn!("tasker-core: {e}");
        }
        self.pool.close().await;
        self.writer.close().await;
    }
}
