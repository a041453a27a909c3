//! The [`Store`] trait: what every backend provides.

use crate::change::Change;
use crate::insights::{
    AnalyticsMetrics, HealthCounts, SlowQuery, SlowestStep, SlowestStepGroup, SlowestTask,
};
use crate::listing::{TaskFilter, TaskListing};
use crate::records::{StepRecord, TaskRecord, TransitionRecord};
use crate::retention::Purged;
use crate::sharing::ProcessInfo;
use std::future::Future;
use std::pin::Pin;
use tasker_model::{State, StepId, TaskId, TaskTemplate, TaskerResult, Timestamp};

/// A task read back with its history and steps.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskView {
    pub task: TaskRecord,
    /// The most_recent transition's to_state, or pending.
    pub state: State,
    /// Oldest first.
    pub transitions: Vec<TransitionRecord>,
    /// In template order.
    pub steps: Vec<StepView>,
}

/// A step read back with its history.
#[derive(Debug, Clone, PartialEq)]
pub struct StepView {
    pub step: StepRecord,
    pub state: State,
    /// Oldest first.
    pub transitions: Vec<TransitionRecord>,
    /// Ids of the steps this one depends on.
    pub parents: Vec<StepId>,
}

/// When a commit may be reported: what [`Store::apply`] is told by the state actor.
///
/// Only PostgreSQL differs between the two: there a deferred commit does not wait for its
/// WAL flush (`synchronous_commit = off` for that transaction), which is most of a small
/// batch's time on a real disk. WAL is flushed in order, so the next durable commit, or
/// [`Store::make_durable`], makes every deferred one before it durable; until then a crash
/// of the database server (not of the engine) can lose it. The other stores make every
/// commit the same way (SQLite's WAL with `synchronous = NORMAL` syncs at checkpoints only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Durable once reported: someone is told of it (a flush, an acknowledged write, a
    /// manual operation) or it finishes a task, whose result is read back.
    Now,
    /// May be reported before it is durable: nobody is told of it but the engine itself,
    /// which redoes a step whose report is lost (at-least-once).
    Deferred,
}

/// What `apply` returns: a future that needs no particular executor, so the state actor can
/// await a commit that runs on the store's own runtime.
pub type Commit = Pin<Box<dyn Future<Output = TaskerResult<()>> + Send + 'static>>;

/// Where [`Store::count_health_in_background`] delivers its counts, once: `Ok(None)` when
/// the store closed before they were counted.
pub type HealthDelivery = Box<dyn FnOnce(TaskerResult<Option<HealthCounts>>) + Send + 'static>;

/// Pauses as a shared store keeps them: `(namespace, template)`, `None` for a whole
/// namespace.
pub type SharedPauses = Vec<(String, Option<String>)>;

/// A place tasks live.
///
/// Writes come only from the state actor, one batch at a time and in order; reads may come
/// from any thread at any time. Blocking methods are called from threads that are not inside
/// an async runtime (Ruby threads, the engine's start-up), never from an actor.
pub trait Store: Send + Sync + 'static {
    /// Applies `batch` atomically (one transaction). A transition whose `from` is not the
    /// current state, or that the state machine refuses, fails the whole batch and writes
    /// nothing. `durability` says whether the commit may be reported before it is durable
    /// (see [`Durability`]).
    fn apply(&self, batch: Vec<Change>, durability: Durability) -> Commit;

    /// Whether a [`Durability::Deferred`] commit may be reported before it is durable; the
    /// state actor then calls [`Store::make_durable`] before it tells a flush that what came
    /// before it is stored.
    fn defers_durability(&self) -> bool {
        false
    }

    /// Makes every commit reported so far durable (see [`Durability`]).
    fn make_durable(&self) -> Commit {
        Box::pin(std::future::ready(Ok(())))
    }

    /// Records a registered template's named rows (namespace, named task, named steps,
    /// dependent systems), creating what is missing and reusing what exists.
    fn register_template(&self, template: &TaskTemplate) -> TaskerResult<()>;

    /// Reserves a task id and one id per step (not necessarily contiguous: several engines
    /// may share the id sequences).
    fn allocate_ids(&self, steps: u32) -> TaskerResult<(TaskId, Vec<StepId>)>;

    /// A task with its steps and history, or `None` when unknown.
    fn task(&self, id: TaskId) -> TaskerResult<Option<TaskView>>;

    /// Just the task's current state (cheap; waiters poll it).
    fn task_state(&self, id: TaskId) -> TaskerResult<Option<State>>;

    /// The task stored with `identity_hash` (an idempotent submission's), if any. The
    /// default finds none: a store that keeps identities must say so here.
    fn task_with_identity(&self, _identity_hash: &str) -> TaskerResult<Option<TaskId>> {
        Ok(None)
    }

    /// The task another process stored first with the identity of `task`, when a batch
    /// dropped `task`'s creation for that (the unique index decided; the engine drops its
    /// copy and answers with the winner). Asked once per identified submission; forgets.
    fn duplicate_of(&self, _task: TaskId) -> Option<TaskId> {
        None
    }

    /// Tasks not finished (pending or in_progress), oldest first: what recovery reloads.
    fn unfinished_tasks(&self) -> TaskerResult<Vec<TaskId>>;

    /// Tasks and steps by state, retries and backoff, as of `now` (see [`HealthCounts`]).
    /// Reads every row: for history and cross-checks, not for a hot path.
    fn health_counts(&self, now: Timestamp) -> TaskerResult<HealthCounts>;

    /// [`Store::health_counts`] as of `now`, off the caller's path: the store pins a read
    /// snapshot before this returns and counts in it on its own threads, then hands the
    /// counts (or the error) to `deliver`. A commit made after this returns is not in the
    /// counts, and none waits for the scan. An engine starts with this so that a store of
    /// millions of rows does not hold up its start. An error pinning the snapshot is
    /// returned and `deliver` is not called.
    ///
    /// The default counts at once, on the caller's thread.
    fn count_health_in_background(
        &self,
        now: Timestamp,
        deliver: HealthDelivery,
    ) -> TaskerResult<()> {
        let counts = self.health_counts(now)?;
        deliver(Ok(Some(counts)));
        Ok(())
    }

    /// Throughput, outcomes and durations over `[since, now]` (see [`AnalyticsMetrics`]).
    fn analytics_metrics(&self, since: Timestamp, now: Timestamp)
        -> TaskerResult<AnalyticsMetrics>;

    /// `[from, to]` cut into `buckets` equal intervals, oldest first: per interval, the steps
    /// completed and the tasks that entered error (and are still in it), as
    /// [`Store::analytics_metrics`] counts `step_throughput` and `error_count`. The SQL stores
    /// answer in one statement (a dashboard's chart); this default asks
    /// [`Store::analytics_metrics`] once per interval edge.
    fn throughput(
        &self,
        from: Timestamp,
        to: Timestamp,
        buckets: u32,
    ) -> TaskerResult<Vec<(u64, u64)>> {
        let n = i64::from(buckets.max(1));
        let width = ((to.0 - from.0) / n).max(1);
        let mut since = Vec::new();
        for k in 0..n {
            let m = self.analytics_metrics(Timestamp(from.0 + k * width), to)?;
            since.push((m.step_throughput, m.error_count));
        }
        since.push((0, 0));
        Ok(since
            .windows(2)
            .map(|w| (w[0].0.saturating_sub(w[1].0), w[0].1.saturating_sub(w[1].1)))
            .collect())
    }

    /// The longest-running finished steps that `query` selects, longest first.
    fn slowest_steps(&self, query: &SlowQuery) -> TaskerResult<Vec<SlowestStep>>;

    /// The finished steps `query` selects, grouped by (namespace, task name, step name),
    /// slowest average first; `query.limit` counts groups.
    fn slowest_step_groups(&self, query: &SlowQuery) -> TaskerResult<Vec<SlowestStepGroup>>;

    /// The longest-running finished tasks that `query` selects, longest first.
    fn slowest_tasks(&self, query: &SlowQuery) -> TaskerResult<Vec<SlowestTask>>;

    /// Deletes up to `limit` tasks that finished (see [`crate::retention`]) before `before`,
    /// oldest first, with every row of theirs, in one transaction; says what it deleted.
    /// Unfinished tasks and tasks in `error` are never deleted, whatever their age.
    fn purge_finished(&self, before: Timestamp, limit: usize) -> TaskerResult<Purged>;

    /// The ids of up to `limit` tasks [`Store::purge_finished`] would delete now, oldest
    /// first, deleting nothing: what an export hook reads before [`Store::purge_expired`].
    fn expired_finished(&self, before: Timestamp, limit: usize) -> TaskerResult<Vec<TaskId>>;

    /// Deletes, like [`Store::purge_finished`], those of `ids` still finished before
    /// `before`, in one transaction; an id no longer expired (or gone) is left alone.
    fn purge_expired(&self, before: Timestamp, ids: &[TaskId]) -> TaskerResult<Purged>;

    /// Tasks for people to look through (see [`crate::listing`]): newest first, a page at a
    /// time.
    fn list_tasks(&self, filter: &TaskFilter) -> TaskerResult<Vec<TaskListing>>;

    /// The task step `step` belongs to, if it exists.
    fn task_of_step(&self, step: StepId) -> TaskerResult<Option<TaskId>>;

    /// Takes ownership of `ids` for this engine so no other engine orchestrates them;
    /// returns the ones it got. Ownership ends when the task finishes, the store closes, or
    /// the engine's process is found dead (its lease expired; on the same host, at once). A
    /// store that serves one process only grants everything.
    fn claim_tasks(&self, ids: &[TaskId]) -> TaskerResult<Vec<TaskId>> {
        Ok(ids.to_vec())
    }

    /// Whether other engines' processes share this store's tasks (PostgreSQL): then tasks
    /// can be claimed from it ([`Store::claim_available`]) and lost to others
    /// ([`Store::take_lost_tasks`]).
    fn shares_tasks(&self) -> bool {
        false
    }

    /// Whether the tasks this store creates are left unclaimed, for other engines' workers
    /// (a `client` role's store).
    fn leaves_new_tasks_unclaimed(&self) -> bool {
        false
    }

    /// Claims up to `limit` unfinished tasks that no live engine holds (never claimed, or
    /// held by a dead process), oldest first; returns them. Tasks being claimed by another
    /// engine at the same moment are skipped, not waited for.
    fn claim_available(&self, _limit: usize) -> TaskerResult<Vec<TaskId>> {
        Ok(Vec::new())
    }

    /// Gives up this store's claims on `ids` and wakes other engines for them (a client
    /// engine after a manual operation restarted one of them: its workers run it).
    fn release_tasks(&self, _ids: &[TaskId]) -> TaskerResult<()> {
        Ok(())
    }

    /// Tasks this store found taken over by another process since the last call (its
    /// changes to them were dropped): the engine must stop driving them.
    fn take_lost_tasks(&self) -> Vec<TaskId> {
        Vec::new()
    }

    /// Concurrency caps counted across every process sharing the store (issue 17): hands
    /// back the cap slots `release` names — `(cap name, slot)` — and takes up to `n` free
    /// slots of each `(cap name, limit, n)` in `want`; returns the slots taken. Only called
    /// when [`Store::shares_tasks`]; a store serving one process has none (its engine counts
    /// caps in memory).
    fn trade_cap_slots(
        &self,
        _release: &[(String, i32)],
        _want: &[(String, u32, u32)],
    ) -> TaskerResult<Vec<(String, i32)>> {
        Ok(Vec::new())
    }

    /// The cap slots this store's process owns in the store now, and how long its lease has
    /// left (no other process may take them before). Only called when
    /// [`Store::shares_tasks`]; a store serving one process holds none.
    fn held_cap_slots(&self) -> TaskerResult<(Vec<(String, i32)>, std::time::Duration)> {
        Ok((Vec::new(), std::time::Duration::ZERO))
    }

    /// The pauses every process sharing this store sees, sorted: `(namespace, template)`,
    /// `None` for a whole namespace. `Ok(None)` where pauses live in the engine alone (a
    /// store serving one process).
    fn shared_pauses(&self) -> TaskerResult<Option<SharedPauses>> {
        Ok(None)
    }

    /// Records (`paused`) or clears a pause for every process sharing this store, and wakes
    /// their claim loops. Nothing where pauses live in the engine alone.
    fn share_pause(
        &self,
        _namespace: &str,
        _template: Option<&str>,
        _paused: bool,
    ) -> TaskerResult<()> {
        Ok(())
    }

    /// A channel that receives when other processes leave work to claim (PostgreSQL's
    /// LISTEN); `None` where nothing announces it. Only a hint: polling finds the same work.
    fn work_signal(&self) -> Option<crossbeam_channel::Receiver<()>> {
        None
    }

    /// The engine's handler slots (threads and Ractors), published for other processes.
    fn set_capacity(&self, _slots: usize) {}

    /// The steps the engine has handed out now, published with the next heartbeat.
    fn set_steps_in_flight(&self, _steps: usize) {}

    /// The engines' processes sharing this store, oldest first (empty where the store serves
    /// one process only).
    fn processes(&self) -> TaskerResult<Vec<ProcessInfo>> {
        Ok(Vec::new())
    }

    /// Releases what the store holds outside the process — database connections, and with
    /// them the claims on its tasks — once the engine is done with it. Reads after `close`
    /// fail with a `Database` error. Dropping the store does the same.
    fn close(&self) {}

    /// What this store is, for logs and errors (`memory`, a file path, a redacted URL).
    fn describe(&self) -> String;
}
