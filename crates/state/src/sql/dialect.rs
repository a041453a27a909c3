//! [`Dialect`]: what one database does its own way under the one SQL store body
//! ([`SqlStore`](crate::sql::store::SqlStore)).
//!
//! A dialect owns its pool, its database type's encoding of a [`Param`] ([`SqlDb`], implemented
//! for sqlx's `Sqlite` and `Postgres` next to each dialect: only the timestamp and id-set
//! encodings differ, [`bind_param`] binds the rest), a timestamp read ([`ReadRow`]),
//! its SQL text ([`Statements`]), and the mechanics that truly differ: how a batch is written,
//! where ids come from, claims, and ([`InsightRows`], implemented next to them) the insights
//! statements. It must not hold logic both databases share (checks, batching, retries, row
//! assembly, insights arithmetic): that lives once in `store.rs`, `read.rs`, `register.rs`,
//! `insights.rs`, `plan.rs` and `check.rs`.
//!
//! Everything is generic, not `dyn`: applying a batch is the hot path of a durable engine.

use crate::insights::SlowQuery;
use crate::sharing::{ProcessInfo, Sharing};
use crate::sql::codec::{is_history_conflict, ReadError};
use crate::sql::plan::Plan;
use crate::sql::runtime::StoreRuntime;
use crate::store::Durability;
use sqlx::database::HasStatementCache;
use sqlx::postgres::Postgres;
use sqlx::sqlite::Sqlite;
use sqlx::IntoArguments;
use sqlx::{Database, Decode, Encode, Executor, Pool, Type};
use std::future::Future;
use std::ops::DerefMut;
use tasker_model::{StepId, TaskId, TaskerResult, Timestamp};

/// A value bound to a statement; each database encodes it its own way.
#[derive(Clone)]
pub(crate) enum Param<'a> {
    Int(i64),
    Text(&'a str),
    OptText(Option<&'a str>),
    /// A timestamp column: SQLite's DATETIME text, PostgreSQL's `timestamp`.
    Time(Timestamp),
    /// Ids for a set-based statement: JSON text for SQLite's `jsonb_each`, an `int8[]` for
    /// PostgreSQL's `ANY`.
    Ids(Vec<i64>),
}

/// A statement of database `DB` with its parameters bound.
pub(crate) type Query<'q, DB> = sqlx::query::Query<'q, DB, <DB as Database>::Arguments>;

/// How one database binds a [`Param`]: implemented for `Sqlite` and `Postgres` next to their
/// dialects, so that [`Dialect::rows`] is written once.
pub(crate) trait SqlDb:
    Database<Connection: FetchRows<Self>, Arguments: IntoArguments<Self>> + HasStatementCache
{
    /// Binds `param` (each implementation through [`bind_param`], naming its encodings).
    fn bind<'q>(query: Query<'q, Self>, param: &Param<'_>) -> Query<'q, Self>;
}

/// Runs a statement on a connection and returns its rows: written once for every connection
/// sqlx executes on (the executor bound lives on `&mut` of the connection, where a trait
/// bound on the database cannot carry it to generic code).
pub(crate) trait FetchRows<DB: Database<Arguments: IntoArguments<DB>>>: Send {
    fn fetch_rows<'e>(
        &'e mut self,
        query: Query<'e, DB>,
    ) -> impl Future<Output = Result<Vec<DB::Row>, sqlx::Error>> + Send + 'e;
}

impl<DB: Database<Arguments: IntoArguments<DB>>, C: Send> FetchRows<DB> for C
where
    for<'c> &'c mut C: Executor<'c, Database = DB>,
{
    fn fetch_rows<'e>(
        &'e mut self,
        query: Query<'e, DB>,
    ) -> impl Future<Output = Result<Vec<DB::Row>, sqlx::Error>> + Send + 'e {
        query.fetch_all(self)
    }
}

/// Binds `param` to `query`: integers and text the same way in both databases, a timestamp
/// as `time` encodes it and a set of ids as `ids` does. Generic with its bounds here rather
/// than on [`SqlDb`] (bounds on other types than `Self` do not follow a trait to its users),
/// so each [`SqlDb::bind`] is one call naming its two encodings.
pub(crate) fn bind_param<'q, DB, T, I>(
    query: Query<'q, DB>,
    param: &Param<'_>,
    time: fn(Timestamp) -> T,
    ids: fn(&[i64]) -> I,
) -> Query<'q, DB>
where
    DB: Database,
    i64: for<'t> Encode<'t, DB> + Type<DB>,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> Option<&'t str>: Encode<'t, DB> + Type<DB>,
    T: for<'t> Encode<'t, DB> + Type<DB>,
    I: for<'t> Encode<'t, DB> + Type<DB>,
{
    match param {
        Param::Int(v) => query.bind(*v),
        Param::Text(v) => query.bind(*v),
        Param::OptText(v) => query.bind(*v),
        Param::Time(t) => query.bind(time(*t)),
        Param::Ids(v) => query.bind(ids(v)),
    }
}

/// A column type both databases decode the same way (integers, booleans, text, and their
/// `Option`s), so the row assembly can be written once.
pub(crate) trait Column:
    for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

impl<T> Column for T where
    T: for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

/// A result row read by column position.
pub(crate) trait ReadRow: Send {
    fn get<T: Column>(&self, i: usize) -> Result<T, sqlx::Error>;
    fn time(&self, i: usize) -> Result<Timestamp, ReadError>;
    fn opt_time(&self, i: usize) -> Result<Option<Timestamp>, ReadError>;
    /// A nullable INTEGER column (`int4` in PostgreSQL), widened.
    fn opt_int(&self, i: usize) -> Result<Option<i64>, sqlx::Error>;
}

/// The statements that read a task back, each with the task id as its only parameter
/// (see `read.rs` for the columns each returns).
///
/// Each is keyed by ids it already knows, through a unique or selective index — the task id
/// for the first three, the step ids the `steps` read returned (`Param::Ids`) for the last
/// two — never by a join that leaves the plan to table statistics: those go stale on tables
/// that grow fast, and a join through `task_id` then seq-scans the history.
pub(crate) struct TaskReads {
    pub(crate) task: &'static str,
    pub(crate) transitions: &'static str,
    pub(crate) steps: &'static str,
    pub(crate) step_transitions: &'static str,
    pub(crate) edges: &'static str,
}

/// How `register_template`'s named steps and links statements take their rows.
pub(crate) enum RowsIn {
    /// One JSON array of objects for the whole set (see [`RegisterSql`]).
    Json,
    /// This many rows of bound parameters per statement, four per row: the named steps as
    /// (position, dependent system, name, description), the links as (named step,
    /// skippable, retryable, retry limit); the rows a last chunk does not fill are NULL.
    Values(usize),
}

/// `register_template`'s statements (see `register.rs` for their parameters). The namespace
/// and the named task have a `find` and an `insert … ON CONFLICT DO NOTHING RETURNING id`;
/// the dependent systems, named steps and links are sets, each an `insert_*` over its rows
/// that skips the rows that exist and ignores conflicts, and a `find_*` over the same rows
/// whose one row is a JSON array of [position in the rows, id]. The systems are a JSON
/// array; the named steps and links are given as [`RegisterSql::rows_in`] says.
pub(crate) struct RegisterSql {
    pub(crate) find_namespace: &'static str,
    pub(crate) insert_namespace: &'static str,
    /// $1 the names (a JSON array of strings), $2 now.
    pub(crate) insert_systems: &'static str,
    pub(crate) find_systems: &'static str,
    pub(crate) find_named_task: &'static str,
    pub(crate) insert_named_task: &'static str,
    pub(crate) rows_in: RowsIn,
    /// [`RowsIn::Json`]: $1 a JSON array of `{"system", "name", "description"}`, $2 now.
    /// [`RowsIn::Values`]: now, then the rows.
    pub(crate) insert_named_steps: &'static str,
    /// The insert's rows alone.
    pub(crate) find_named_steps: &'static str,
    /// [`RowsIn::Json`]: $1 the named task, $2 a JSON array of `{"step", "skippable",
    /// "retryable", "retry_limit"}`, $3 now. [`RowsIn::Values`]: the named task, now, then
    /// the rows. Returns nothing: nothing reads a link's id.
    pub(crate) insert_links: &'static str,
    /// `insert_links` without its look for links that exist, for a named task this
    /// transaction created (no link can name it yet): that look was one index probe a link.
    pub(crate) insert_new_links: &'static str,
}

/// One database's text of the statements the shared body runs.
pub(crate) struct Statements {
    /// (task id, most recent to_state) of task $1.
    pub(crate) task_state: &'static str,
    /// The task_id of the task whose identity_hash is $1.
    pub(crate) task_with_identity: &'static str,
    pub(crate) read: TaskReads,
    /// (task_id, to_state, sort_key) of the tasks in the ids $1.
    pub(crate) task_heads: &'static str,
    /// (workflow_step_id, task_id, to_state, sort_key) of the steps in the ids $1.
    pub(crate) step_heads: &'static str,
    pub(crate) register: RegisterSql,
    /// `BEGIN` of a read snapshot (`None`: the pool's plain `BEGIN`).
    pub(crate) begin_snapshot: Option<&'static str>,
    /// `BEGIN` of `register_template`'s write (`None`: the pool's plain `BEGIN`).
    pub(crate) begin_write: Option<&'static str>,
}

/// The health statements' rows: tasks by state, steps by state, and the server's
/// (client connections, cap) where it has any.
pub(crate) struct HealthRows<R> {
    pub(crate) tasks: R,
    pub(crate) steps: R,
    pub(crate) connections: Option<(i64, i64)>,
}

/// Why a write of a checked plan failed.
pub(crate) enum WriteError {
    /// The database disagrees with a head the checks used.
    Stale,
    /// Another process took over a task the batch touches (PostgreSQL's fence, see
    /// `postgres/claims.rs`): nothing was written.
    Fenced,
    Sql(sqlx::Error),
}

/// SQLSTATE `division_by_zero`: PostgreSQL's write statement signals a failed check with it
/// (`postgres/write.rs`); SQLite's numeric result codes never take this value.
const CHECK_FAILED: &str = "22012";
/// SQLSTATE `invalid_argument_for_power_function`: PostgreSQL's write statement signals a
/// lost claim with it (`postgres/statement.rs`).
const FENCED: &str = "2201F";

impl From<sqlx::Error> for WriteError {
    fn from(e: sqlx::Error) -> Self {
        // A duplicate key on a history table: someone else appended to it (the cache said
        // otherwise). A duplicate task or step id is the batch's fault.
        let code = e.as_database_error().and_then(|d| d.code());
        if code.as_deref() == Some(FENCED) {
            return WriteError::Fenced;
        }
        let check_failed = code.as_deref() == Some(CHECK_FAILED);
        if check_failed || is_history_conflict(&e) {
            WriteError::Stale
        } else {
            WriteError::Sql(e)
        }
    }
}

/// See the module documentation.
pub(crate) trait Dialect: Send + Sync + Sized + 'static {
    type Row: ReadRow;
    type Db: Database<Row = Self::Row> + SqlDb;
    /// What a batch is written on: a transaction, or a connection when the write is one
    /// statement, atomic by itself.
    type Writer: DerefMut<Target = <Self::Db as Database>::Connection> + Send;

    /// What a read of one statement runs on: a pooled connection, in a transaction where
    /// the database is reached through a transaction pooler (`postgres/pooling.rs`).
    type Reader: DerefMut<Target = <Self::Db as Database>::Connection> + Send;

    const SQL: Statements;

    fn pool(&self) -> &Pool<Self::Db>;

    fn begin_read(&self) -> impl Future<Output = Result<Self::Reader, sqlx::Error>> + Send;

    fn end_read(reader: Self::Reader) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// Whether [`Dialect::rows`] keeps its statements prepared on the connection.
    fn persistent() -> bool {
        true
    }

    /// Runs `sql` with `params` on `conn` and returns its rows.
    fn rows<'e>(
        conn: &'e mut <Self::Db as Database>::Connection,
        sql: &'static str,
        params: &'e [Param<'e>],
    ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send + 'e {
        let query = sqlx::query(sql).persistent(Self::persistent());
        conn.fetch_rows(params.iter().fold(query, Self::Db::bind))
    }

    /// Like [`Dialect::rows`], but planned for these parameters on every call: for a
    /// statement whose best plan depends on which optional filters are given (the task
    /// listing), where one cached generic plan would serve every filter with the plan of
    /// the worst (PostgreSQL: an unnamed statement; SQLite plans per call anyway).
    fn rows_planned<'e>(
        conn: &'e mut <Self::Db as Database>::Connection,
        sql: &'static str,
        params: &'e [Param<'e>],
    ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send + 'e {
        Self::rows(conn, sql, params)
    }

    fn begin_batch(&self) -> impl Future<Output = Result<Self::Writer, sqlx::Error>> + Send;

    /// Writes a checked plan (see `plan.rs`), verifying in the database every head the
    /// checks relied on; a [`Durability::Deferred`] one may commit without waiting to be
    /// durable where the database can (see [`Dialect::defers_durability`]).
    fn write<'e>(
        &'e self,
        writer: &'e mut Self::Writer,
        plan: &'e Plan,
        durability: Durability,
    ) -> impl Future<Output = Result<(), WriteError>> + Send + 'e;

    /// Whether [`Dialect::write`] commits a deferred batch before it is durable
    /// (`Store::defers_durability`).
    fn defers_durability(&self) -> bool {
        false
    }

    /// Makes every commit so far durable (`Store::make_durable`); only a dialect that
    /// defers durability has anything to do. `Ok(Some(why))`: done, but deferred commits
    /// made before may have been lost on the way (why says how: a server restart).
    fn make_durable(&self) -> impl Future<Output = Result<Option<String>, sqlx::Error>> + Send {
        std::future::ready(Ok(None))
    }

    fn end_batch(writer: Self::Writer) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// A task id and `steps` step ids (see `Store::allocate_ids`); blocks on `runtime`.
    fn allocate_ids(
        &self,
        runtime: &StoreRuntime,
        store: &str,
        steps: u32,
    ) -> TaskerResult<(TaskId, Vec<StepId>)>;

    /// See `Store::claim_tasks`: a store that serves one process only grants everything.
    fn claim<'e>(
        &'e self,
        ids: &'e [TaskId],
    ) -> impl Future<Output = TaskerResult<Vec<TaskId>>> + Send + 'e {
        std::future::ready(Ok(ids.to_vec()))
    }

    /// See `Store::claim_available`: nothing where the store serves one process only.
    fn claim_available(
        &self,
        _limit: usize,
    ) -> impl Future<Output = TaskerResult<Vec<TaskId>>> + Send + '_ {
        std::future::ready(Ok(Vec::new()))
    }

    /// Which of `tasks` this store held and no longer does (another process took them over);
    /// they stop being held here.
    fn find_lost<'e>(
        &'e self,
        _tasks: &'e [TaskId],
    ) -> impl Future<Output = TaskerResult<Vec<TaskId>>> + Send + 'e {
        std::future::ready(Ok(Vec::new()))
    }

    /// See `Store::release_tasks`.
    fn release<'e>(
        &'e self,
        _ids: &'e [TaskId],
    ) -> impl Future<Output = TaskerResult<()>> + Send + 'e {
        std::future::ready(Ok(()))
    }

    /// Hands back cap slots and takes free ones (`postgres/claims/caps.rs`); a database
    /// serving one process has none to trade.
    fn trade_cap_slots<'e>(
        &'e self,
        _release: &'e [(String, i32)],
        _want: &'e [(String, u32, u32)],
    ) -> impl Future<Output = TaskerResult<Vec<(String, i32)>>> + Send + 'e {
        std::future::ready(Ok(Vec::new()))
    }

    /// The cap slots this process owns and its lease left (`postgres/claims/caps.rs`).
    fn held_cap_slots(
        &self,
    ) -> impl Future<Output = TaskerResult<(Vec<(String, i32)>, std::time::Duration)>> + Send + '_
    {
        std::future::ready(Ok((Vec::new(), std::time::Duration::ZERO)))
    }

    /// The pauses every process sharing the database sees (`postgres/pauses.rs`); `None`
    /// where pauses live in the engine alone.
    fn shared_pauses(
        &self,
    ) -> impl Future<Output = TaskerResult<Option<crate::store::SharedPauses>>> + Send + '_ {
        std::future::ready(Ok(None))
    }

    /// Records or clears a pause for every process sharing the database.
    fn share_pause<'e>(
        &'e self,
        _namespace: &'e str,
        _template: Option<&'e str>,
        _paused: bool,
    ) -> impl Future<Output = TaskerResult<()>> + Send + 'e {
        std::future::ready(Ok(()))
    }

    /// After `plan` committed (claims it made or released).
    fn committed(&self, _plan: &Plan) {}

    /// See [`Store`](crate::Store)'s methods of the same names.
    fn sharing(&self) -> Option<&Sharing> {
        None
    }
    fn take_lost_tasks(&self) -> Vec<TaskId> {
        Vec::new()
    }
    /// A future that sends on `wake` whenever other processes leave work to claim, for the
    /// store to run on its runtime; `None` where nothing announces it.
    fn work_listener(
        &self,
        _wake: crossbeam_channel::Sender<()>,
    ) -> Option<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>> {
        None
    }
    fn set_capacity(&self, _slots: usize) {}
    fn set_steps_in_flight(&self, _steps: usize) {}
    fn processes(&self) -> impl Future<Output = TaskerResult<Vec<ProcessInfo>>> + Send + '_ {
        std::future::ready(Ok(Vec::new()))
    }

    /// Releases the connections (and with them anything held through them).
    fn close(&self) -> impl Future<Output = ()> + Send;
}

/// The insights statements of a database (their rows become answers in `insights.rs`).
/// Apart from [`Dialect`] so each database implements them next to their SQL.
pub(crate) trait InsightRows: Dialect {
    /// Begins the read-only transaction health is counted in, its snapshot taken before the
    /// future ends: commits made after that are not in the counts, and none waits for them.
    fn pin_snapshot(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send;

    /// The health rows as of `now`, counted in `snapshot` (from [`InsightRows::pin_snapshot`]).
    fn health_rows_in(
        snapshot: sqlx::Transaction<'static, Self::Db>,
        now: Timestamp,
    ) -> impl Future<Output = Result<HealthRows<Self::Row>, sqlx::Error>> + Send;

    /// The health rows as of `now`, in a snapshot of their own.
    fn health_rows(
        &self,
        now: Timestamp,
    ) -> impl Future<Output = Result<HealthRows<Self::Row>, sqlx::Error>> + Send {
        async move { Self::health_rows_in(self.pin_snapshot().await?, now).await }
    }

    /// The analytics totals' one row over `[since, now]` (columns: `insights.rs`).
    fn analytics_row(
        &self,
        since: Timestamp,
        now: Timestamp,
    ) -> impl Future<Output = Result<Self::Row, sqlx::Error>> + Send;

    fn slowest_step_rows<'e>(
        &'e self,
        q: &'e SlowQuery,
    ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send + 'e;

    fn step_group_rows<'e>(
        &'e self,
        q: &'e SlowQuery,
    ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send + 'e;

    fn slowest_task_rows<'e>(
        &'e self,
        q: &'e SlowQuery,
    ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send + 'e;
}
