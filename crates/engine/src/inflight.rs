//! Steps handed out and not yet reported.
//!
//! The orchestrator records a step here before it sends it to a worker; the worker's report
//! removes it on the worker's own thread. So a second report of the same step, a report of a
//! step that was never handed out, or one after the step was handed back, is refused at once
//! with a clear error instead of being lost in the actor.

use dashmap::DashMap;
use tasker_model::{StepId, TaskId};

/// Where a handed-out step belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InflightStep {
    pub task_id: TaskId,
    pub index: u32,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct Inflight {
    steps: DashMap<StepId, InflightStep>,
}

impl Inflight {
    /// Records a step about to be handed out.
    pub fn insert(&self, step: StepId, at: InflightStep) {
        self.steps.insert(step, at);
    }

    /// Takes a step out; `None` when it is not handed out.
    pub fn take(&self, step: StepId) -> Option<InflightStep> {
        self.steps.remove(&step).map(|(_, v)| v)
    }

    /// Where a handed-out step belongs, leaving it handed out.
    pub fn get(&self, step: StepId) -> Option<InflightStep> {
        self.steps.get(&step).map(|v| *v)
    }

    /// Number of steps handed out.
    pub fn len(&self) -> usize {
        self.steps.len()
    }
}
