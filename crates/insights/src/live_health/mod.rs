//! Counters of tasks and steps by state, moved by committed changes.
//!
//! This module owns the counters and how a reading is taken; `update.rs` owns how one batch
//! moves them. Neither may query the store or block on anything but its own short lock,
//! except that a reading taken before the seed arrived waits for it (below).
//!
//! The counters are the stored counts (the seed) plus the effect of every batch committed
//! since. An engine starts with [`LiveHealth::awaiting_seed`] and reads the stored counts
//! off its start path (a full scan: 0.9 s at 1,000,000 steps); the batches committed
//! meanwhile only add to the counters, and [`LiveHealth::seed`] adds the stored counts
//! when they arrive. The store counts in a read snapshot pinned before the engine's first
//! commit (`Store::count_health_in_background`), so no commit is both in the seed and in the
//! counters, and no commit waits for the scan. Until then [`LiveHealth::counts`] waits for
//! the seed (once, at most the length of that scan) rather than answer without the stored
//! tasks.
//!
//! Each batch is read once before it is committed ([`LiveHealth::prepare`]) into a
//! [`HealthUpdate`] that is applied only if the commit succeeds, so a refused batch moves
//! nothing. Batches commit one at a time, in order, so each `prepare` sees the effect of
//! every earlier committed batch.
//!
//! Splitting steps in error into retryable and exhausted needs each step's retry limit,
//! retryable flag and attempts, which a transition does not always carry; those facts are
//! kept for the steps of unfinished tasks and for steps in error only, so memory follows
//! the work in flight, not the work done.

mod purged;
#[cfg(test)]
mod tests;
mod update;

use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use tasker_model::State;
use tasker_state::{Change, CommitObserver, HealthCounts};
pub use update::HealthUpdate;
use update::Known;

/// See the module documentation.
#[derive(Debug, Default)]
pub struct LiveHealth {
    tasks: [AtomicI64; 6],
    steps: [AtomicI64; 6],
    retryable_error_steps: AtomicI64,
    exhausted_retry_steps: AtomicI64,
    known: Mutex<Known>,
    /// Set from [`LiveHealth::awaiting_seed`] until [`LiveHealth::seed`].
    unseeded: AtomicBool,
    /// Where a reading waits for the seed.
    seed_lock: Mutex<()>,
    seed_arrived: Condvar,
}

impl LiveHealth {
    /// Starts from counts read from the store (the tasks that existed before this process).
    pub fn seeded(counts: &HealthCounts) -> LiveHealth {
        let health = LiveHealth::default();
        health.add(counts);
        health
    }

    /// Starts from nothing, waiting for [`LiveHealth::seed`] (see the module documentation):
    /// batches may be applied meanwhile; readings wait.
    pub fn awaiting_seed() -> LiveHealth {
        LiveHealth {
            unseeded: AtomicBool::new(true),
            ..LiveHealth::default()
        }
    }

    /// Adds the stored counts, taken before any batch applied so far was committed, and
    /// lets readings through. `None` (the store could not count) lets them through with
    /// this engine's own changes only.
    pub fn seed(&self, counts: Option<&HealthCounts>) {
        if let Some(counts) = counts {
            self.add(counts);
        }
        let _guard = self.seed_lock.lock();
        self.unseeded.store(false, Ordering::Release);
        self.seed_arrived.notify_all();
    }

    /// Whether the stored counts are in (always, unless made by `awaiting_seed`).
    pub fn is_seeded(&self) -> bool {
        !self.unseeded.load(Ordering::Acquire)
    }

    fn add(&self, counts: &HealthCounts) {
        for (i, state) in State::ALL.iter().enumerate() {
            self.tasks[i].fetch_add(counts.tasks_in(*state) as i64, Ordering::Relaxed);
            self.steps[i].fetch_add(counts.steps_in(*state) as i64, Ordering::Relaxed);
        }
        self.retryable_error_steps
            .fetch_add(counts.retryable_error_steps as i64, Ordering::Relaxed);
        self.exhausted_retry_steps
            .fetch_add(counts.exhausted_retry_steps as i64, Ordering::Relaxed);
    }

    /// The counters now: a few relaxed loads (a reading racing a commit may see part of it);
    /// before the seed arrived, waits for it.
    /// The fields only a query can answer are left out: `active_connections` and
    /// `max_connections` are `None`, and `in_backoff_steps` counts the failed steps waiting
    /// for their retry (`retryable_error_steps`), not TASKER.md's time-based rule.
    pub fn counts(&self) -> HealthCounts {
        if !self.is_seeded() {
            let mut guard = self.seed_lock.lock();
            while !self.is_seeded() {
                self.seed_arrived.wait(&mut guard);
            }
        }
        let load = |a: &AtomicI64| a.load(Ordering::Relaxed).max(0) as u64;
        let tasks: [u64; 6] = std::array::from_fn(|i| load(&self.tasks[i]));
        let steps: [u64; 6] = std::array::from_fn(|i| load(&self.steps[i]));
        let retryable = load(&self.retryable_error_steps);
        let mut counts = HealthCounts {
            retryable_error_steps: retryable,
            exhausted_retry_steps: load(&self.exhausted_retry_steps),
            in_backoff_steps: retryable,
            active_connections: None,
            max_connections: None,
            // The per-state fields and the totals: `set_by_state` below. A field
            // `HealthCounts` gains must be set here too: this default would hide it as 0.
            ..HealthCounts::default()
        };
        counts.set_by_state(tasks, steps);
        counts
    }

    /// Steps whose facts are kept now (for tests of the memory bound).
    pub fn known_steps(&self) -> usize {
        self.known.lock().steps.len()
    }
}

/// Plugs a [`LiveHealth`] into the state actor: each batch is prepared before it commits
/// and applied once it has.
pub struct HealthObserver(pub Arc<LiveHealth>);

impl CommitObserver for HealthObserver {
    fn before_commit(&self, changes: &[Change]) -> Box<dyn FnOnce() + Send> {
        let update = self.0.prepare(changes);
        let health = self.0.clone();
        Box::new(move || health.apply(update))
    }
}
