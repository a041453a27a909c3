//! The stored rows, shaped like Tasker's tables (TASKER.md, "Database").

use serde_json::{json, Map, Value as Json};
use std::borrow::Cow;
use std::sync::Arc;
use tasker_model::{State, StepId, StepTemplate, TaskId, TemplateKey, Timestamp};

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
    /// The task's priority (higher first when its steps wait for workers). Not a Tasker
    /// column: the SQL stores keep a non-zero one in `tasker_core_task_priorities`, written
    /// with the task's row and read back with it.
    pub priority: i32,
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

impl TaskRecord {
    /// A task as it is submitted at `at`: not complete, no initiator, source or reason, and
    /// the empty tag list Tasker stores. Set the other fields with struct-update syntax.
    pub fn new(task_id: TaskId, template: TemplateKey, context: Arc<Json>, at: Timestamp) -> Self {
        TaskRecord {
            task_id,
            template,
            context,
            initiator: None,
            source_system: None,
            reason: None,
            tags: Json::Array(Vec::new()),
            complete: false,
            requested_at: at,
            created_at: at,
            updated_at: at,
            priority: 0,
        }
    }
}

impl StepRecord {
    /// A step as it is created at `at`, before any attempt: not in process, not processed,
    /// `attempts` NULL, retryable up to Tasker's default of 3 tries, not skippable.
    pub fn new(
        step_id: StepId,
        task_id: TaskId,
        name: Arc<str>,
        template_index: u32,
        at: Timestamp,
    ) -> Self {
        StepRecord {
            step_id,
            task_id,
            name,
            template_index,
            retryable: true,
            retry_limit: 3,
            in_process: false,
            processed: false,
            processed_at: None,
            attempts: None,
            last_attempted_at: None,
            backoff_request_seconds: None,
            results: None,
            skippable: false,
            created_at: at,
            updated_at: at,
        }
    }

    /// [`StepRecord::new`] with the retry and skip settings of its template entry `st`.
    pub fn of_template(
        step_id: StepId,
        task_id: TaskId,
        name: Arc<str>,
        template_index: u32,
        st: &StepTemplate,
        at: Timestamp,
    ) -> Self {
        StepRecord {
            retryable: st.default_retryable,
            retry_limit: st.default_retry_limit,
            skippable: st.skippable,
            ..StepRecord::new(step_id, task_id, name, template_index, at)
        }
    }
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
