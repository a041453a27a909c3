//! The stored rows, shaped like Tasker's tables (TASKER.md, "Database").

use serde_json::{json, Map, Value as Json};
use std::borrow::Cow;
use std::sync::Arc;
use tasker_model::{State, StepId, TaskId, TemplateKey, Timestamp};

/// A `tasker_tasks` row.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRecord {
    pub task_id: TaskId,
    pub template: TemplateKey,
    pub context: Arc<Json>,
    pub initiator: Option<String>,
    pub source_system: Option<String>,
    pub reason: Option<String>,
    pub tags: Json,
    pub complete: bool,
    pub requested_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A `tasker_workflow_steps` row, plus the step's name and position in its template.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    pub step_id: StepId,
    pub task_id: TaskId,
    pub name: Arc<str>,
    /// Position in the template's `step_templates`.
    pub template_index: u32,
    pub retryable: bool,
    pub retry_limit: u32,
    pub in_process: bool,
    pub processed: bool,
    pub processed_at: Option<Timestamp>,
    pub attempts: Option<u32>,
    pub last_attempted_at: Option<Timestamp>,
    pub backoff_request_seconds: Option<i64>,
    pub results: Option<Arc<Json>>,
    pub skippable: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Why a transition happened. Kept typed on the hot path and rendered to the `metadata`
/// JSON column only when written or read back.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TransitionMeta {
    pub reason: Cow<'static, str>,
    /// Who made the change: `engine` unless an API call did.
    pub actor: Cow<'static, str>,
    pub error_class: Option<String>,
    pub error_message: Option<String>,
    pub duration_ms: Option<f64>,
    pub attempt: Option<u32>,
    /// Anything else an operation wants recorded.
    pub extra: Option<Json>,
}

impl TransitionMeta {
    /// A change made by the engine for `reason`.
    pub fn engine(reason: &'static str) -> TransitionMeta {
        TransitionMeta {
            reason: Cow::Borrowed(reason),
            actor: Cow::Borrowed("engine"),
            ..TransitionMeta::default()
        }
    }

    /// The `metadata` column's JSON.
    pub fn to_json(&self) -> Json {
        let mut m = Map::new();
        m.insert("reason".into(), json!(self.reason));
        m.insert("actor".into(), json!(self.actor));
        if let Some(c) = &self.error_class {
            m.insert("error_class".into(), json!(c));
        }
        if let Some(e) = &self.error_message {
            m.insert("error_message".into(), json!(e));
        }
        if let Some(d) = self.duration_ms {
            m.insert("duration_ms".into(), json!(d));
        }
        if let Some(a) = self.attempt {
            m.insert("attempt".into(), json!(a));
        }
        if let Some(Json::Object(extra)) = &self.extra {
            for (k, v) in extra {
                m.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        Json::Object(m)
    }
}

/// A `tasker_task_transitions` / `tasker_workflow_step_transitions` row.
#[derive(Debug, Clone, PartialEq)]
pub struct TransitionRecord {
    pub from_state: Option<State>,
    pub to_state: State,
    pub meta: TransitionMeta,
    /// Increases by one per transition of the same task or step, starting at 1.
    pub sort_key: i32,
    pub most_recent: bool,
    pub created_at: Timestamp,
}
