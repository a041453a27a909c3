//! Retention: deleting the finished tasks older than a configured age from the store, in
//! batches, and dropping what the engine keeps of them (issue 17, item 6).
//!
//! [`Engine::start_retention`] starts one Rust-owned thread (`tasker-retention`) that every
//! `interval` deletes the tasks finished more than `keep` ago, `batch` per transaction
//! ([`Store::purge_finished`]) until none is left, looking for the stop signal between
//! batches so a large backlog never holds up shutdown. [`Engine::purge_finished`] does one
//! such run on the caller's thread (`rake tasker_core:cleanup`). Either way, after each
//! batch the engine forgets the deleted tasks' kept outcomes (a `wait_for_task` or
//! `task_result` for one then finds no task, a `ValidationError`) and takes them out of the
//! live health counts, and [`Engine::retention_stats`] counts what was deleted.
//!
//! What expires, and how each store deletes, is `tasker_state::retention`'s; this file must
//! not decide it, nor write to the store otherwise.

use super::background::Background;
use super::Engine;
use crate::outcomes::Outcomes;
use crossbeam_channel::{bounded, select, Receiver};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tasker_insights::LiveHealth;
use tasker_model::{TaskId, TaskerError, TaskerResult, Timestamp};
use tasker_state::{Purged, Store};

/// How an engine deletes its store's finished tasks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetentionSettings {
    /// A finished task is deleted once it finished this long ago.
    pub keep: Duration,
    /// Time between two runs.
    pub interval: Duration,
    /// Tasks deleted per transaction.
    pub batch: usize,
}

impl RetentionSettings {
    /// Tasks per transaction unless told: small enough that a batch holds its locks for
    /// milliseconds, large enough that a backlog of millions goes in minutes.
    pub const DEFAULT_BATCH: usize = 1000;

    /// `keep` with the default batch and an interval of half of `keep`, between 100 ms and
    /// a minute, so nothing waits much past its age to be deleted.
    pub fn keeping(keep: Duration) -> RetentionSettings {
        RetentionSettings {
            keep,
            interval: (keep / 2).clamp(Duration::from_millis(100), Duration::from_secs(60)),
            batch: Self::DEFAULT_BATCH,
        }
    }
}

/// What one run deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deleted {
    pub tasks: u64,
    pub steps: u64,
}

/// What retention did so far in this engine (all runs, the thread's and one-off ones).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetentionStats {
    /// The settings of the running thread; `None` when no thread runs.
    pub settings: Option<RetentionSettings>,
    /// Completed runs.
    pub runs: u64,
    pub deleted_tasks: u64,
    pub deleted_steps: u64,
    /// When the last run ended, and what it deleted.
    pub last_run_at: Option<Timestamp>,
    pub last_run_tasks: u64,
    pub last_run_seconds: f64,
    /// The last run's error, cleared by a run that succeeds.
    pub last_error: Option<String>,
}

/// The engine's retention: its counts and its thread.
#[derive(Default)]
pub(crate) struct Retention {
    stats: Arc<Mutex<RetentionStats>>,
    thread: Background,
}

/// What a run works with: the parts of the engine it shares.
#[derive(Clone)]
struct Purger {
    store: Arc<dyn Store>,
    outcomes: Arc<Outcomes>,
    health: Arc<LiveHealth>,
    stats: Arc<Mutex<RetentionStats>>,
}

/// After a failed run (database unreachable), the wait before the next is the interval, but
/// at least this.
const AFTER_FAILURE: Duration = Duration::from_secs(2);

impl Engine {
    fn purger(&self) -> Purger {
        Purger {
            store: self.store.clone(),
            outcomes: self.outcomes.clone(),
            health: self.health.clone(),
            stats: self.retention.stats.clone(),
        }
    }

    /// Starts the retention thread (see the module documentation). Once per engine.
    pub fn start_retention(&self, settings: RetentionSettings) -> TaskerResult<()> {
        check(&settings)?;
        let purger = self.purger();
        let stats = &self.retention.stats;
        self.retention.thread.start(
            "retention",
            || self.is_stopped(),
            || {
                stats.lock().settings = Some(settings);
                // Not running after all: nothing to report.
                || stats.lock().settings = None
            },
            move |stopped| purger.run_every(settings, &stopped),
        )
    }

    /// Stops the retention thread, if any, and waits for it (it ends after the batch in
    /// progress). Part of `stop`.
    pub fn stop_retention(&self) {
        if self.retention.thread.stop() {
            self.retention.stats.lock().settings = None;
        }
    }

    /// Deletes now, on the caller's thread, every task that finished more than `older_than`
    /// ago, `batch` per transaction; returns what was deleted (`rake tasker_core:cleanup`).
    pub fn purge_finished(&self, older_than: Duration, batch: usize) -> TaskerResult<Deleted> {
        check(&RetentionSettings {
            keep: older_than,
            interval: Duration::from_secs(1),
            batch,
        })?;
        // Never sent nor dropped before the run ends: a one-off run goes to the end.
        let (_stop, stopped) = bounded::<()>(0);
        self.purger().run(older_than, batch, &stopped)
    }

    /// The ids of up to `limit` tasks finished more than `older_than` ago, oldest first,
    /// deleting nothing: the batch an export hook reads before [`Engine::purge_exported`].
    pub fn expired_tasks(&self, older_than: Duration, limit: usize) -> TaskerResult<Vec<TaskId>> {
        self.store.expired_finished(cutoff(older_than), limit)
    }

    /// Deletes those of `ids` still finished more than `older_than` ago, in one transaction
    /// (a batch an export hook has taken; an id no longer expired is left alone), and
    /// counts it as one run.
    pub fn purge_exported(&self, older_than: Duration, ids: &[TaskId]) -> TaskerResult<Deleted> {
        let started = Instant::now();
        let purger = self.purger();
        match self.store.purge_expired(cutoff(older_than), ids) {
            Ok(purged) => {
                purger.forget(&purged);
                let all = Deleted {
                    tasks: purged.tasks.len() as u64,
                    steps: purged.steps.len() as u64,
                };
                purger.record(started, all, Ok(()))
            }
            Err(e) => purger.record(started, Deleted::default(), Err(e)),
        }
    }

    /// What retention did so far (see [`RetentionStats`]).
    pub fn retention_stats(&self) -> RetentionStats {
        self.retention.stats.lock().clone()
    }

    /// [`RetentionStats`] in the Prometheus text format, for `metrics_text`.
    pub(super) fn retention_metrics_text(&self) -> String {
        use std::fmt::Write;
        let stats = self.retention_stats();
        let mut out = String::new();
        for (name, value) in [
            ("retention_runs", stats.runs),
            ("retention_deleted_tasks", stats.deleted_tasks),
            ("retention_deleted_steps", stats.deleted_steps),
        ] {
            let _ = writeln!(out, "# TYPE tasker_core_{name}_total counter");
            let _ = writeln!(out, "tasker_core_{name}_total {value}");
        }
        if let Some(at) = stats.last_run_at {
            let _ = writeln!(
                out,
                "# TYPE tasker_core_retention_last_run_timestamp_seconds gauge"
            );
            let seconds = at.0 as f64 / 1e6;
            let _ = writeln!(
                out,
                "tasker_core_retention_last_run_timestamp_seconds {seconds}"
            );
        }
        out
    }
}

/// The time before which a task finished more than `keep` ago finished.
fn cutoff(keep: Duration) -> Timestamp {
    Timestamp::now().plus_seconds(-keep.as_secs_f64())
}

fn check(settings: &RetentionSettings) -> TaskerResult<()> {
    if settings.batch == 0 {
        return Err(TaskerError::validation(
            "retention batch",
            "must be at least 1 task",
        ));
    }
    if settings.interval.is_zero() {
        return Err(TaskerError::validation(
            "retention interval",
            "must be above 0 seconds",
        ));
    }
    Ok(())
}

impl Purger {
    fn run_every(&self, settings: RetentionSettings, stopped: &Receiver<()>) {
        loop {
            let pause = match self.run(settings.keep, settings.batch, stopped) {
                Ok(_) => settings.interval,
                Err(e) => {
                    tasker_metrics::log_warn!(
                        "tasker-core: deleting finished tasks from {}: {e}",
                        self.store.describe()
                    );
                    settings.interval.max(AFTER_FAILURE)
                }
            };
            select! {
                recv(stopped) -> _ => return,
                default(pause) => {}
            }
        }
    }

    /// One run: batches until one comes back short, or `stopped` says to stop.
    fn run(&self, keep: Duration, batch: usize, stopped: &Receiver<()>) -> TaskerResult<Deleted> {
        let started = Instant::now();
        let cutoff = cutoff(keep);
        // Counts only: a backlog of millions must not be held as ids.
        let mut all = Deleted::default();
        let outcome = loop {
            match self.store.purge_finished(cutoff, batch) {
                Ok(purged) => {
                    let full = purged.tasks.len() >= batch;
                    self.forget(&purged);
                    all.tasks += purged.tasks.len() as u64;
                    all.steps += purged.steps.len() as u64;
                    // Disconnected (stopping) or sent: end between batches.
                    let stopping = !matches!(
                        stopped.try_recv(),
                        Err(crossbeam_channel::TryRecvError::Empty)
                    );
                    if !full || stopping {
                        break Ok(());
                    }
                }
                Err(e) => break Err(e),
            }
        };
        self.record(started, all, outcome)
    }

    /// Counts a run that took since `started` and deleted `all` (before its error, if it
    /// failed) into the stats.
    fn record(
        &self,
        started: Instant,
        all: Deleted,
        outcome: TaskerResult<()>,
    ) -> TaskerResult<Deleted> {
        let mut stats = self.stats.lock();
        stats.deleted_tasks += all.tasks;
        stats.deleted_steps += all.steps;
        match outcome {
            Ok(()) => {
                stats.runs += 1;
                stats.last_run_at = Some(Timestamp::now());
                stats.last_run_tasks = all.tasks;
                stats.last_run_seconds = started.elapsed().as_secs_f64();
                stats.last_error = None;
                Ok(all)
            }
            Err(e) => {
                stats.last_error = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// Drops what the engine keeps of deleted tasks.
    fn forget(&self, purged: &Purged) {
        if purged.is_empty() {
            return;
        }
        self.outcomes.forget_all(&purged.tasks);
        self.health.purged(purged);
    }
}
