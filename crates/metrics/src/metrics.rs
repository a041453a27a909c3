//! [`Metrics`]: every counter and latency histogram of one engine, named once.
//!
//! One `Arc<Metrics>` is shared by the orchestrator (tasks and steps counted as they move),
//! the state actor (batches committed, and how long each took) and the binding (the calls
//! that cross from Ruby, timed around the whole native method). Readings name each value in
//! a fixed order, which `engine.stats` and the Prometheus text keep. This file must not
//! compute anything on a recording path beyond an atomic add.

use crate::histogram::{Histogram, HistogramSnapshot};
use std::sync::atomic::{AtomicU64, Ordering};

/// Every counter and histogram of one engine. Counters only grow; read them with
/// [`Metrics::stats`], the histograms with [`Metrics::histograms`].
#[derive(Debug, Default)]
pub struct Metrics {
    pub tasks_submitted: AtomicU64,
    pub tasks_completed: AtomicU64,
    pub tasks_failed: AtomicU64,
    pub steps_dispatched: AtomicU64,
    pub steps_completed: AtomicU64,
    pub steps_failed: AtomicU64,
    pub steps_retried: AtomicU64,
    pub steps_handed_back: AtomicU64,
    /// Batches the state actor handed to the store (committed or refused).
    pub store_batches: AtomicU64,
    /// Changes in those batches.
    pub store_changes: AtomicU64,
    /// Batches the store refused.
    pub store_failed_batches: AtomicU64,
    /// Steps completed in the last full second (a gauge the orchestrator sets each second).
    pub steps_last_second: AtomicU64,
    /// Attempts the engine failed because they ran past their step's timeout.
    pub steps_timed_out: AtomicU64,
    /// Of those, steps of Ractor handlers (the Ractor pool replaces the Ractor of each).
    pub ractor_steps_timed_out: AtomicU64,
    /// Reports of timed-out attempts that came in late and were ignored.
    pub late_reports_ignored: AtomicU64,

    /// `submit` from Ruby: context conversion, validation, hand-off to the orchestrator.
    pub submit: Histogram,
    /// Taking steps that returned some (`take_steps`): taking the batch and building its
    /// Ruby objects; the wait for steps to become ready is not counted. Named `drain` in the
    /// Prometheus text, as it always was.
    pub drain: Histogram,
    /// `complete_step` from Ruby, results conversion included.
    pub complete: Histogram,
    /// `fail_step` from Ruby.
    pub fail: Histogram,
    /// The orchestrator applying a batch of reports: state rules, readiness of the children,
    /// dispatch of what became ready.
    pub readiness: Histogram,
    /// The store committing (or refusing) one batch.
    pub store_commit: Histogram,
}

/// What an engine holds at the moment of a reading (levels, not counts since start); the
/// engine reads them from its queues and passes them in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Levels {
    pub steps_in_flight: u64,
    pub steps_queued: u64,
    pub steps_queued_for_ractors: u64,
    pub event_subscribers: u64,
}

impl Levels {
    /// The names [`Metrics::stats`] gives these levels: gauges, not counters.
    pub const NAMES: [&'static str; 4] = [
        "steps_in_flight",
        "steps_queued",
        "steps_queued_for_ractors",
        "event_subscribers",
    ];
}

impl Metrics {
    /// Name and value of every counter and of `levels`, in the order `engine.stats` has
    /// always listed them.
    pub fn stats(&self, levels: &Levels) -> Vec<(&'static str, u64)> {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        vec![
            ("tasks_submitted", r(&self.tasks_submitted)),
            ("tasks_completed", r(&self.tasks_completed)),
            ("tasks_failed", r(&self.tasks_failed)),
            ("steps_dispatched", r(&self.steps_dispatched)),
            ("steps_completed", r(&self.steps_completed)),
            ("steps_failed", r(&self.steps_failed)),
            ("steps_retried", r(&self.steps_retried)),
            ("steps_handed_back", r(&self.steps_handed_back)),
            (Levels::NAMES[0], levels.steps_in_flight),
            (Levels::NAMES[1], levels.steps_queued),
            (Levels::NAMES[2], levels.steps_queued_for_ractors),
            ("store_batches", r(&self.store_batches)),
            ("store_changes", r(&self.store_changes)),
            ("store_failed_batches", r(&self.store_failed_batches)),
            (Levels::NAMES[3], levels.event_subscribers),
            ("steps_timed_out", r(&self.steps_timed_out)),
            ("ractor_steps_timed_out", r(&self.ractor_steps_timed_out)),
            ("late_reports_ignored", r(&self.late_reports_ignored)),
        ]
    }

    /// Name and snapshot of every histogram, in a fixed order: the engine's operations,
    /// then the store's commits.
    pub fn histograms(&self) -> Vec<(&'static str, HistogramSnapshot)> {
        vec![
            ("submit", self.submit.snapshot()),
            ("drain", self.drain.snapshot()),
            ("complete", self.complete.snapshot()),
            ("fail", self.fail.snapshot()),
            ("readiness", self.readiness.snapshot()),
            ("store_commit", self.store_commit.snapshot()),
        ]
    }

    /// Steps completed in the last full second.
    pub fn steps_per_second(&self) -> u64 {
        self.steps_last_second.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_name_every_counter_once_and_levels_as_given() {
        let m = Metrics::default();
        m.tasks_submitted.fetch_add(3, Ordering::Relaxed);
        m.store_changes.fetch_add(7, Ordering::Relaxed);
        let levels = Levels {
            steps_in_flight: 2,
            event_subscribers: 1,
            ..Levels::default()
        };
        let stats = m.stats(&levels);
        let names: Vec<&str> = stats.iter().map(|(n, _)| *n).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        let get = |n: &str| stats.iter().find(|(k, _)| *k == n).unwrap().1;
        assert_eq!(get("tasks_submitted"), 3);
        assert_eq!(get("store_changes"), 7);
        assert_eq!(get("steps_in_flight"), 2);
        assert_eq!(get("event_subscribers"), 1);
        assert_eq!(m.histograms().len(), 6);
    }
}
