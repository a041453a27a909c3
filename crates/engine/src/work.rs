//! What crosses between the engine and its workers.

use crate::inflight::{AttemptId, InflightStep};
use crate::registry::RegisteredTemplate;
use serde_json::Value as Json;
use std::sync::Arc;
use std::time::Duration;
use tasker_model::{Execution, State, StepId, TaskId};

/// A step handed to a worker. Everything a handler's context needs is here, shared by
/// reference so handing out a step copies pointers, not JSON.
#[derive(Debug, Clone)]
pub struct ReadyStep {
    pub task_id: TaskId,
    pub step_id: StepId,
    /// Position in the template.
    pub index: u32,
    /// 1 for the first run, 2 for the first retry, … (Tasker's `attempts` + 1, so 1 again
    /// after a manual reset).
    pub attempt: u32,
    /// This hand-out's id: what [`crate::Engine::complete_attempt`] is given back.
    pub attempt_id: AttemptId,
    pub retry_limit: u32,
    pub template: Arc<RegisteredTemplate>,
    pub task_context: Arc<Json>,
    /// (parent step name, its results), in the template's dependency order.
    pub parent_results: Vec<(Arc<str>, Arc<Json>)>,
    /// How long this attempt may run (the step's, the template's or the engine's timeout):
    /// the engine fails it with `TaskerCore::TimeoutError` that long after a worker takes
    /// it, and the worker should stop it then. `None`: no limit.
    pub timeout: Option<Duration>,
}

impl ReadyStep {
    /// Where it belongs, as the in-flight registry and the dispatch gate know it.
    pub(crate) fn inflight(&self) -> InflightStep {
        InflightStep {
            task_id: self.task_id,
            index: self.index,
            attempt: self.attempt,
            id: self.attempt_id,
        }
    }

    /// The step's name.
    pub fn name(&self) -> &Arc<str> {
        self.template.graph.name(self.index)
    }

    /// Which pool runs it (threads or Ractors).
    pub fn execution(&self) -> Execution {
        self.template.executions[self.index as usize]
    }

    /// The Ruby class that runs it.
    pub fn handler_class(&self) -> &Arc<str> {
        &self.template.handler_classes[self.index as usize]
    }

    /// The step's `handler_config` (an empty object when the template gives none).
    pub fn handler_config(&self) -> &Arc<Json> {
        &self.template.handler_configs[self.index as usize]
    }
}

/// What a worker reports when a handler did not succeed.
#[derive(Debug, Clone, PartialEq)]
pub struct StepFailure {
    pub error_class: String,
    pub message: String,
    /// False for a permanent error: the step is not retried.
    pub retryable: bool,
    /// A delay the handler asked for, in seconds (capped like any backoff).
    pub retry_after: Option<f64>,
    /// What else the handler's error carried (a JSON object, e.g. Tasker's `error_code`
    /// and `context`): kept in the error transition's metadata and in the `step.failed`
    /// event's context, so an operator sees it on the attempt and in alerts.
    pub details: Option<Json>,
}

/// What a task's dedicated route carries (see `Engine::start_task`).
#[derive(Debug, Clone)]
pub enum Routed {
    Step(ReadyStep),
    /// The task ended in this state; nothing more will arrive.
    Finished(TaskId, State),
}
