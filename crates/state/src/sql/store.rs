//! [`SqlStore`]: the body of the [`Store`](crate::Store) methods, written once for both databases over a
//! [`Dialect`] — applying a batch (heads, checks, write, the retry when the cache was stale),
//! registering templates, reading tasks, states and insights, closing.
//!
//! [`SqliteStore`](crate::SqliteStore) and [`PostgresStore`](crate::PostgresStore) are thin
//! public wrappers of a `SqlStore` whose [`Store`](crate::Store) impl `delegate_store!` (`delegate.rs`) writes. This file
//! must not hold SQL text or anything one database does its own way.

use crate::change::Change;
use crate::insights::{
    AnalyticsMetrics, HealthCounts, SlowQuery, SlowestStep, SlowestStepGroup, SlowestTask,
};
use crate::sql::codec::{db_error, parse_state, ReadError};
use crate::sql::dialect::{Dialect, InsightRows, Param, ReadRow, WriteError};
use crate::sql::duplicates::{
    creates_identified, drop_duplicates, is_identity_conflict, Duplicates,
};
use crate::sql::plan::{apply_with_retry, refusal, Failure, Heads};
use crate::sql::reconnect::{self, failure};
use crate::sql::runtime::StoreRuntime;
use crate::sql::templates::{plan_template, TemplateCache};
use crate::sql::view::assemble;
use crate::sql::{check, insights, read, register};
use crate::store::{Commit, Durability, HealthDelivery, TaskView};
use parking_lot::Mutex;
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use tasker_model::{State, StepId, TaskId, TaskTemplate, TaskerError, TaskerResult, Timestamp};

/// Tasks not finished, oldest first (the same text in both databases: no parameters). Only a
/// complete task has `complete` set, so `t.complete = false` keeps every unfinished one and
/// lets the database read an index of the tasks not complete in creation order
/// (PostgreSQL: Tasker's `idx_tasks_completion_status_created`; SQLite:
/// `tasker_core_tasks_unfinished`, whose predicate is this term) instead of every task.
const UNFINISHED_TASKS: &str = "SELECT t.task_id FROM tasker_tasks t \
     LEFT JOIN tasker_task_transitions tr \
       ON tr.task_id = t.task_id AND tr.most_recent \
     WHERE t.complete = false \
       AND COALESCE(tr.to_state, 'pending') IN ('pending', 'in_progress') \
     ORDER BY t.created_at, t.task_id";

/// A store on one database `D`; see the module documentation.
pub(crate) struct SqlStore<D: Dialect> {
    pub(crate) inner: Arc<Shared<D>>,
    pub(super) runtime: StoreRuntime,
}

/// What the store's runtime and the caller's threads share.
pub(crate) struct Shared<D> {
    pub(crate) db: D,
    pub(crate) describe: String,
    templates: TemplateCache,
    pub(crate) heads: Mutex<Heads>,
    /// Batches are applied one at a time even if `apply` is called before the previous
    /// commit finished.
    pub(crate) writer: tokio::sync::Mutex<()>,
    /// Set by `close`: background reads (the health count) let their connection go.
    pub(super) closing: tokio::sync::watch::Sender<bool>,
    /// Identified tasks another process stored first (`duplicates.rs`).
    duplicates: Duplicates,
}

impl<D: InsightRows> SqlStore<D> {
    pub(crate) fn new(db: D, describe: String, runtime: StoreRuntime) -> SqlStore<D> {
        SqlStore {
            inner: Arc::new(Shared {
                db,
                describe,
                templates: TemplateCache::default(),
                heads: Mutex::new(Heads::default()),
                writer: tokio::sync::Mutex::new(()),
                closing: tokio::sync::watch::Sender::new(false),
                duplicates: Duplicates::default(),
            }),
            runtime,
        }
    }

    pub(crate) fn runtime(&self) -> &StoreRuntime {
        &self.runtime
    }

    /// Runs the read `work()` makes on the store's runtime; a failure is a `Database` error
    /// saying what the store was `doing`. While the database cannot be reached the read is
    /// made again with backoff while the database cannot be reached (`reconnect.rs`): after a server restart
    /// every pooled connection fails once before the pool replaces it.
    pub(crate) fn read<T, E, F, W>(
        &self,
        doing: impl FnOnce() -> String,
        work: W,
    ) -> TaskerResult<T>
    where
        W: Fn() -> F + Send + Sync,
        F: Future<Output = Result<T, E>> + Send,
        T: Send,
        E: Into<ReadError> + Send,
    {
        let retrying = reconnect::retry_read(work);
        self.runtime.block_on(retrying).map_err(|e: ReadError| {
            e.into_tasker(format!("{} in {}", doing(), self.inner.describe))
        })
    }

    pub(crate) fn apply(&self, batch: Vec<Change>, durability: Durability) -> Commit {
        let inner = self.inner.clone();
        self.runtime
            .spawn_commit(format!("store {}", self.inner.describe), async move {
                inner.apply(batch, durability).await
            })
    }

    pub(crate) fn make_durable(&self) -> Commit {
        let inner = self.inner.clone();
        self.runtime
            .spawn_commit(format!("store {}", self.inner.describe), async move {
                inner.make_durable().await
            })
    }

    pub(crate) fn register_template(&self, template: &TaskTemplate) -> TaskerResult<()> {
        let plan = plan_template(template)?;
        let (named_task, steps) = self
            .runtime
            .block_on(register::register(&self.inner.db, &plan))
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

    pub(crate) fn allocate_ids(&self, steps: u32) -> TaskerResult<(TaskId, Vec<StepId>)> {
        self.inner
            .db
            .allocate_ids(&self.runtime, &self.inner.describe, steps)
    }

    pub(crate) fn task(&self, id: TaskId) -> TaskerResult<Option<TaskView>> {
        let doing = || format!("reading task {id}");
        let rows = self.read(doing, || read::task(&self.inner.db, id))?;
        Ok(rows.map(|r| assemble(r, &self.inner.templates)))
    }

    pub(crate) fn task_state(&self, id: TaskId) -> TaskerResult<Option<State>> {
        let doing = || format!("reading the state of task {id}");
        let state: Option<Option<String>> = self.read(doing, || async {
            let mut conn = self.inner.db.begin_read().await?;
            let rows = D::rows(&mut conn, D::SQL.task_state, &[Param::Int(id.0)]).await?;
            D::end_read(conn).await?;
            rows.first().map(|r| r.get(1)).transpose()
        })?;
        state
            .map(|s| s.map_or(Ok(State::Pending), |s| parse_state(&s)))
            .transpose()
    }

    pub(crate) fn task_with_identity(&self, identity_hash: &str) -> TaskerResult<Option<TaskId>> {
        let doing = || "finding the task of an identity_hash".to_string();
        self.read(doing, || async {
            let mut conn = self.inner.db.begin_read().await?;
            let params = [Param::Text(identity_hash)];
            let rows = D::rows(&mut conn, D::SQL.task_with_identity, &params).await?;
            D::end_read(conn).await?;
            rows.first().map(|r| r.get(0).map(TaskId)).transpose()
        })
    }

    pub(crate) fn duplicate_of(&self, task: TaskId) -> Option<TaskId> {
        self.inner.duplicates.lock().remove(&task)
    }

    pub(crate) fn unfinished_tasks(&self) -> TaskerResult<Vec<TaskId>> {
        let doing = || "listing unfinished tasks".to_string();
        self.read(doing, || async {
            let mut conn = self.inner.db.begin_read().await?;
            let rows = D::rows(&mut conn, UNFINISHED_TASKS, &[]).await?;
            D::end_read(conn).await?;
            rows.iter().map(|r| r.get(0).map(TaskId)).collect()
        })
    }

    pub(crate) fn health_counts(&self, now: Timestamp) -> TaskerResult<HealthCounts> {
        let doing = || "counting health".to_string();
        self.read(doing, || insights::health_counts(&self.inner.db, now))
    }

    /// See `Store::count_health_in_background`. A pool of one connection (SQLite in memory)
    /// counts at once instead: the scan would hold the only connection, and every commit
    /// would wait for it.
    pub(crate) fn count_health_in_background(
        &self,
        now: Timestamp,
        deliver: HealthDelivery,
    ) -> TaskerResult<()> {
        if self.inner.db.pool().options().get_max_connections() < 2 {
            deliver(Ok(Some(self.health_counts(now)?)));
            return Ok(());
        }
        let doing = || "counting health".to_string();
        let snapshot = self.read(doing, || self.inner.db.pin_snapshot())?;
        let describe = self.inner.describe.clone();
        let mut closing = self.inner.closing.subscribe();
        let delivery = Delivery(Some(deliver));
        self.runtime.spawn(async move {
            tokio::select! {
                counts = insights::health_counts_in::<D>(snapshot, now) => {
                    delivery.send(counts.map(Some).map_err(|e| {
                        db_error(format!("counting health in {describe}"), e)
                    }));
                }
                // Dropping the count returns its connection, so closing need not wait for
                // the scan; `Delivery` then says the count did not finish.
                _ = closing.wait_for(|closing| *closing) => {}
            }
        });
        Ok(())
    }

    pub(crate) fn analytics_metrics(
        &self,
        since: Timestamp,
        now: Timestamp,
    ) -> TaskerResult<AnalyticsMetrics> {
        let doing = || "computing analytics".to_string();
        let db = &self.inner.db;
        self.read(doing, || insights::analytics_metrics(db, since, now))
    }

    pub(crate) fn slowest_steps(&self, query: &SlowQuery) -> TaskerResult<Vec<SlowestStep>> {
        let doing = || "finding the slowest steps".to_string();
        self.read(doing, || insights::slowest_steps(&self.inner.db, query))
    }

    pub(crate) fn slowest_step_groups(
        &self,
        query: &SlowQuery,
    ) -> TaskerResult<Vec<SlowestStepGroup>> {
        let doing = || "grouping the slowest steps".to_string();
        self.read(doing, || {
            insights::slowest_step_groups(&self.inner.db, query)
        })
    }

    pub(crate) fn slowest_tasks(&self, query: &SlowQuery) -> TaskerResult<Vec<SlowestTask>> {
        let doing = || "finding the slowest tasks".to_string();
        self.read(doing, || insights::slowest_tasks(&self.inner.db, query))
    }

    pub(crate) fn close(&self) {
        self.inner.closing.send_replace(true);
        self.runtime
            .close_within(&self.inner.describe, self.inner.db.close());
    }

    pub(crate) fn describe(&self) -> String {
        self.inner.describe.clone()
    }
}

/// A [`HealthDelivery`] that is made even when its count is dropped unfinished (the store
/// closed first), so nobody waits for counts that will not come.
struct Delivery(Option<HealthDelivery>);

impl Delivery {
    fn send(mut self, counts: TaskerResult<Option<HealthCounts>>) {
        if let Some(deliver) = self.0.take() {
            deliver(counts);
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if let Some(deliver) = self.0.take() {
            deliver(Ok(None));
        }
    }
}

impl<D: Dialect> Drop for SqlStore<D> {
    fn drop(&mut self) {
        let inner = self.inner.clone();
        self.runtime.shutdown(async move { inner.db.close().await });
    }
}

impl<D: Dialect> Shared<D> {
    async fn make_durable(&self) -> TaskerResult<()> {
        let doing = || format!("making the commits so far durable in {}", self.describe);
        match self.db.make_durable().await {
            Ok(None) => Ok(()),
            Ok(Some(lost)) => Err(TaskerError::Database(format!("{}: {lost}", doing()))),
            Err(e) => Err(db_error(doing(), e)),
        }
    }

    /// What a durable batch that ends up writing nothing (each of its tasks a duplicate, or
    /// taken over) still owes its caller: every deferred commit before it made durable.
    async fn wrote_nothing(&self, durability: Durability) -> TaskerResult<()> {
        match durability {
            Durability::Now => self.make_durable().await,
            Durability::Deferred => Ok(()),
        }
    }

    async fn apply(&self, batch: Vec<Change>, durability: Durability) -> TaskerResult<()> {
        let _writer = self.writer.lock().await;
        let mut batch = batch;
        let mut deduplicated = false;
        loop {
            let lost = {
                let batch = &batch;
                apply_with_retry(batch, &self.heads, |all| {
                    self.attempt_until_reached(batch, all, durability)
                })
                .await
            };
            let lost = match lost {
                // Another process stored one of the batch's identities first: write the
                // rest without the losers (the conflict is committed, so they are found).
                Err(e)
                    if !deduplicated && is_identity_conflict(&e) && creates_identified(&batch) =>
                {
                    deduplicated = true;
                    drop_duplicates(&self.db, &mut batch, &self.duplicates)
                        .await
                        .map_err(|e| {
                            db_error(
                                format!("finding duplicate identities in {}", self.describe),
                                e,
                            )
                        })?;
                    if batch.is_empty() {
                        return self.wrote_nothing(durability).await;
                    }
                    continue;
                }
                other => other?,
            };
            let Some((tasks, steps)) = lost else {
                return Ok(());
            };
            // Another process took these tasks over: their changes are not this store's to
            // write any more (the engine drops the tasks, see `Store::take_lost_tasks`); the
            // rest of the batch is written as if they had never been in it.
            self.heads.lock().forget_tasks(&tasks);
            batch.retain(|change| match change.task_id() {
                Some(t) => !tasks.contains(&t),
                None => match change {
                    Change::PatchStep { step_id, .. } => !steps.contains(step_id),
                    _ => true,
                },
            });
            if batch.is_empty() {
                return self.wrote_nothing(durability).await;
            }
        }
    }

    /// [`Self::attempt`], made again while the database cannot be reached
    /// (`reconnect.rs`): a restart or failover delays the batch instead of losing it.
    async fn attempt_until_reached(
        &self,
        batch: &[Change],
        all: bool,
        durability: Durability,
    ) -> Result<Option<Lost>, Failure> {
        reconnect::retry_batch(&self.describe, || self.attempt(batch, all, durability)).await
    }

    /// One try at the batch: `Some` of the tasks (and their steps) that another process
    /// took over when the database refused the batch for them, having written nothing.
    async fn attempt(
        &self,
        batch: &[Change],
        all: bool,
        durability: Durability,
    ) -> Result<Option<Lost>, Failure> {
        let doing = || {
            format!(
                "writing a batch of {} changes to {}",
                batch.len(),
                self.describe
            )
        };
        if all {
            // The second try, after the database disagreed with the first: a task taken over
            // would now fail the checks (its head moved on), so ask first whether it was.
            if let Some(lost) = self.lost_in(batch).await? {
                return Ok(Some(lost));
            }
        }
        let mut writer = self
            .db
            .begin_batch()
            .await
            .map_err(|e| failure(doing(), e))?;
        let wanted = self.heads.lock().wanted(batch, all);
        let loaded = read::load_heads::<D>(&mut writer, &wanted)
            .await
            .map_err(|e| failure(doing(), e))?;
        let checked = {
            let heads = self.heads.lock();
            check::check(batch, &heads, &loaded, &self.templates, &self.describe)
                .map_err(|e| refusal(e, batch, &heads, all))
        };
        let plan = match checked {
            Ok(plan) => plan,
            // Read from the database, a task another process took over and moved on fails
            // the checks: that is a lost task, not a wrong batch.
            Err(Failure::Refused(e)) => {
                drop(writer);
                return match self.lost_in(batch).await? {
                    Some(lost) => Ok(Some(lost)),
                    None => Err(Failure::Refused(e)),
                };
            }
            Err(stale) => return Err(stale),
        };
        match self.db.write(&mut writer, &plan, durability).await {
            Ok(()) => {}
            Err(WriteError::Stale) => return Err(Failure::Stale),
            Err(WriteError::Fenced) => {
                drop(writer);
                // Found lost and claimed back in between: the second try sees it.
                return match self.lost_in(batch).await? {
                    Some(lost) => Ok(Some(lost)),
                    None => Err(Failure::Stale),
                };
            }
            Err(WriteError::Sql(e)) => return Err(failure(doing(), e)),
        }
        D::end_batch(writer)
            .await
            .map_err(|e| failure(doing(), e))?;
        self.heads.lock().commit(&plan);
        self.db.committed(&plan);
        Ok(None)
    }

    /// The tasks of `batch` this store held and another process has taken over, with the
    /// steps of theirs the batch touches; `None` when there are none.
    async fn lost_in(&self, batch: &[Change]) -> Result<Option<Lost>, Failure> {
        let mut tasks: Vec<TaskId> = batch.iter().filter_map(Change::task_id).collect();
        tasks.sort_unstable();
        tasks.dedup();
        let lost: HashSet<TaskId> = self.db.find_lost(&tasks).await?.into_iter().collect();
        if lost.is_empty() {
            return Ok(None);
        }
        let mut steps: HashSet<StepId> = {
            let heads = self.heads.lock();
            lost.iter()
                .flat_map(|t| heads.steps_of(*t).to_vec())
                .collect()
        };
        steps.extend(batch.iter().filter_map(|c| match c {
            Change::StepTransition {
                task_id, step_id, ..
            } if lost.contains(task_id) => Some(*step_id),
            _ => None,
        }));
        Ok(Some((lost, steps)))
    }
}

/// Tasks another process took over, and their steps a batch touched.
type Lost = (HashSet<TaskId>, HashSet<StepId>);
