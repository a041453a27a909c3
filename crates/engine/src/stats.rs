//! Counters shared by the orchestrator and the handle (`engine.stats`).

use std::sync::atomic::{AtomicU64, Ordering};

/// Monotonic counters; read with [`EngineStats::snapshot`].
#[derive(Debug, Default)]
pub struct EngineStats {
    pub tasks_submitted: AtomicU64,
    pub tasks_completed: AtomicU64,
    pub tasks_failed: AtomicU64,
    pub steps_dispatched: AtomicU64,
    pub steps_completed: AtomicU64,
    pub steps_failed: AtomicU64,
    pub steps_retried: AtomicU64,
    pub steps_handed_back: AtomicU64,
}

impl EngineStats {
    /// Name and value of every counter.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
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
        ]
    }
}
