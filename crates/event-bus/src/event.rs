//! What an event is (TASKER.md, "Events").
//!
//! Fields are typed and shared (`Arc<str>`) so publishing costs a few pointer copies; the
//! JSON context is built only when a subscriber asks for it.

use serde_json::{json, Map, Value as Json};
use std::sync::Arc;
use tasker_model::{StepId, TaskId, Timestamp};

/// Declares [`LifecycleEvent`] from one list of (variant, dotted name), so the enum, its
/// `ALL` table and its names cannot drift apart when an event is added.
macro_rules! lifecycle_events {
    ($($variant:ident => $name:literal,)+) => {
        /// The lifecycle events Tasker defines.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum LifecycleEvent {
            $($variant,)+
        }

        impl LifecycleEvent {
            /// Every lifecycle event, in declaration order (an event's index is `as usize`).
            pub const ALL: [LifecycleEvent; [$(LifecycleEvent::$variant),+].len()] =
                [$(LifecycleEvent::$variant),+];

            /// The dotted name subscribers match on.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(LifecycleEvent::$variant => $name,)+
                }
            }
        }
    };
}

lifecycle_events! {
    TaskInitializeRequested => "task.initialize_requested",
    TaskStartRequested => "task.start_requested",
    TaskCompleted => "task.completed",
    TaskFailed => "task.failed",
    TaskRetryRequested => "task.retry_requested",
    TaskCancelled => "task.cancelled",
    StepExecutionRequested => "step.execution_requested",
    StepBeforeHandle => "step.before_handle",
    StepCompleted => "step.completed",
    StepFailed => "step.failed",
    StepRetryRequested => "step.retry_requested",
    WorkflowViableStepsDiscovered => "workflow.viable_steps_discovered",
}

/// An event's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventName {
    Lifecycle(LifecycleEvent),
    /// Published by a handler; listed in the template's `custom_events` when that is given.
    Custom(Arc<str>),
}

impl EventName {
    /// The dotted name.
    pub fn as_str(&self) -> &str {
        match self {
            EventName::Lifecycle(l) => l.as_str(),
            EventName::Custom(c) => c,
        }
    }
}

/// One event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub name: EventName,
    pub task_id: TaskId,
    pub step_id: Option<StepId>,
    pub occurred_at: Timestamp,
    pub task_name: Arc<str>,
    pub namespace: Arc<str>,
    pub step_name: Option<Arc<str>>,
    pub attempt: Option<u32>,
    pub duration_ms: Option<f64>,
    pub error_class: Option<String>,
    pub error_message: Option<String>,
    /// Extra data: a custom event's payload, or e.g. the step ids a discovery found.
    pub payload: Option<Arc<Json>>,
    /// More about a failure, from the handler's error (e.g. `error_code`): its keys join
    /// the context, beside `error_class` and `error_message`.
    pub error_details: Option<Arc<Json>>,
}

impl Event {
    /// A lifecycle event of a task, with no step.
    pub fn task(
        name: LifecycleEvent,
        task_id: TaskId,
        task_name: Arc<str>,
        namespace: Arc<str>,
    ) -> Event {
        Event::named(EventName::Lifecycle(name), task_id, task_name, namespace)
    }

    /// An event of any name about a task, with no step.
    pub fn named(
        name: EventName,
        task_id: TaskId,
        task_name: Arc<str>,
        namespace: Arc<str>,
    ) -> Event {
        Event {
            name,
            task_id,
            step_id: None,
            occurred_at: Timestamp::now(),
            task_name,
            namespace,
            step_name: None,
            attempt: None,
            duration_ms: None,
            error_class: None,
            error_message: None,
            payload: None,
            error_details: None,
        }
    }

    /// The dotted name.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The JSON context (TASKER.md): task_id, step_id, step_name, task_name, namespace,
    /// attempt, duration_ms, error class and message (and the error's details, such as
    /// `error_code`), where they apply.
    pub fn context(&self) -> Json {
        let mut m = Map::new();
        m.insert("task_id".into(), json!(self.task_id.0));
        m.insert("task_name".into(), json!(&*self.task_name));
        m.insert("namespace".into(), json!(&*self.namespace));
        if let Some(s) = self.step_id {
            m.insert("step_id".into(), json!(s.0));
        }
        if let Some(s) = &self.step_name {
            m.insert("step_name".into(), json!(&**s));
        }
        if let Some(a) = self.attempt {
            m.insert("attempt".into(), json!(a));
        }
        if let Some(d) = self.duration_ms {
            m.insert("duration_ms".into(), json!(d));
        }
        if let Some(c) = &self.error_class {
            m.insert("error_class".into(), json!(c));
        }
        if let Some(e) = &self.error_message {
            m.insert("error_message".into(), json!(e));
        }
        if let Some(p) = &self.payload {
            m.insert("payload".into(), (**p).clone());
        }
        if let Some(Json::Object(details)) = self.error_details.as_deref() {
            for (k, v) in details {
                m.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        Json::Object(m)
    }
}
