//! The read-only methods of `TaskerCore::Native::Engine` that describe tasks and templates:
//! `task`, `task_summary`, `task_state`, `task_graph`, `template_graph`, `template_info`,
//! `template_keys`, `awaiting_templates`.
//!
//! Each answer is a view (a struct deriving `Serialize`, with the field names Ruby reads)
//! crossing through `helpers::view`; store reads let go of the GVL. Must not change
//! anything, nor take part in running steps: nothing here is on the hot path.

use super::arguments::opt_string;
use super::Engine;
use crate::helpers::convert::to_i64;
use crate::helpers::errors::{guard, to_ruby as err};
use crate::helpers::nogvl::blocking;
use crate::helpers::view::{to_ruby, Keys, Pairs, RubyTime};
use crate::ruby_api::task_graph::TaskGraph;
use magnus::{Error, Ruby, Value};
use serde::Serialize;
use serde_json::Value as Json;
use std::sync::Arc;
use tasker_engine::{Engine as Core, RegisteredTemplate, TaskOutcome};
use tasker_model::TaskId;
use tasker_state::{StepView, TaskView, TransitionRecord};

/// `Native::Engine#task`: a task as stored, its steps and both histories.
#[derive(Serialize)]
struct TaskRow<'a> {
    task_id: i64,
    name: &'a str,
    namespace: &'a str,
    version: &'a str,
    state: &'static str,
    complete: bool,
    context: &'a Json,
    initiator: Option<&'a str>,
    source_system: Option<&'a str>,
    reason: Option<&'a str>,
    tags: &'a Json,
    requested_at: RubyTime,
    created_at: RubyTime,
    updated_at: RubyTime,
    transitions: Vec<TransitionRow>,
    steps: Vec<StepRow<'a>>,
}

#[derive(Serialize)]
struct StepRow<'a> {
    step_id: i64,
    task_id: i64,
    name: &'a str,
    state: &'static str,
    retryable: bool,
    retry_limit: u32,
    in_process: bool,
    processed: bool,
    processed_at: Option<RubyTime>,
    attempts: Option<u32>,
    last_attempted_at: Option<RubyTime>,
    backoff_request_seconds: Option<i64>,
    results: Option<&'a Json>,
    skippable: bool,
    parent_ids: Vec<i64>,
    created_at: RubyTime,
    updated_at: RubyTime,
    transitions: Vec<TransitionRow>,
}

#[derive(Serialize)]
struct TransitionRow {
    from_state: Option<&'static str>,
    to_state: &'static str,
    sort_key: i32,
    most_recent: bool,
    created_at: RubyTime,
    metadata: Json,
}

/// `Native::Engine#task_summary`: the task's state and each step's outcome, no history.
#[derive(Serialize)]
struct TaskSummary<'a> {
    task_id: i64,
    state: &'static str,
    steps: Vec<StepSummary<'a>>,
}

#[derive(Serialize)]
struct StepSummary<'a> {
    step_id: i64,
    name: &'a str,
    state: &'static str,
    attempts: u32,
    results: Option<&'a Json>,
    /// The message of the step's latest failure, if it failed.
    error: Option<&'a str>,
}

/// `Native::Engine#template_info`: a registered template and its steps.
#[derive(Serialize)]
struct TemplateInfo<'a> {
    name: &'a str,
    namespace: &'a str,
    version: &'a str,
    source: &'a str,
    task_handler_class: Option<&'a str>,
    module_namespace: Option<&'a str>,
    description: Option<&'a str>,
    custom_events: Option<&'a [String]>,
    steps: Vec<TemplateStep<'a>>,
}

#[derive(Serialize)]
struct TemplateStep<'a> {
    name: &'a str,
    handler_class: &'a str,
    depends_on: Vec<&'a str>,
    retry_limit: u32,
    retryable: bool,
    skippable: bool,
    level: u32,
    handler_config: &'a Json,
}

fn transition_rows(rows: &[TransitionRecord]) -> Vec<TransitionRow> {
    rows.iter()
        .map(|t| TransitionRow {
            from_state: t.from_state.map(|s| s.as_str()),
            to_state: t.to_state.as_str(),
            sort_key: t.sort_key,
            most_recent: t.most_recent,
            created_at: RubyTime(t.created_at),
            metadata: t.meta.to_json(),
        })
        .collect()
}

fn step_row(s: &StepView) -> StepRow<'_> {
    let r = &s.step;
    StepRow {
        step_id: r.step_id.0,
        task_id: r.task_id.0,
        name: &r.name,
        state: s.state.as_str(),
        retryable: r.retryable,
        retry_limit: r.retry_limit,
        in_process: r.in_process,
        processed: r.processed,
        processed_at: r.processed_at.map(RubyTime),
        attempts: r.attempts,
        last_attempted_at: r.last_attempted_at.map(RubyTime),
        backoff_request_seconds: r.backoff_request_seconds,
        results: r.results.as_deref(),
        skippable: r.skippable,
        parent_ids: s.parents.iter().map(|p| p.0).collect(),
        created_at: RubyTime(r.created_at),
        updated_at: RubyTime(r.updated_at),
        transitions: transition_rows(&s.transitions),
    }
}

fn task_row(v: &TaskView) -> TaskRow<'_> {
    let t = &v.task;
    TaskRow {
        task_id: t.task_id.0,
        name: t.template.name.as_str(),
        namespace: t.template.namespace.as_str(),
        version: t.template.version.as_str(),
        state: v.state.as_str(),
        complete: t.complete,
        context: &t.context,
        initiator: t.initiator.as_deref(),
        source_system: t.source_system.as_deref(),
        reason: t.reason.as_deref(),
        tags: &t.tags,
        requested_at: RubyTime(t.requested_at),
        created_at: RubyTime(t.created_at),
        updated_at: RubyTime(t.updated_at),
        transitions: transition_rows(&v.transitions),
        steps: v.steps.iter().map(step_row).collect(),
    }
}

fn task_summary(v: &TaskOutcome) -> TaskSummary<'_> {
    TaskSummary {
        task_id: v.task_id.0,
        state: v.state.as_str(),
        steps: v
            .steps
            .iter()
            .map(|s| StepSummary {
                step_id: s.step_id.0,
                name: &s.name,
                state: s.state.as_str(),
                attempts: s.attempts,
                results: s.results.as_deref(),
                error: s.error.as_deref(),
            })
            .collect(),
    }
}

fn template_info(t: &RegisteredTemplate) -> TemplateInfo<'_> {
    TemplateInfo {
        name: &t.task_name,
        namespace: &t.namespace,
        version: &t.version,
        source: t.template.source.as_str(),
        task_handler_class: t.template.task_handler_class.as_deref(),
        module_namespace: t.template.module_namespace.as_deref(),
        description: t.template.description.as_deref(),
        custom_events: t.template.custom_events.as_deref(),
        steps: t
            .template
            .step_templates
            .iter()
            .enumerate()
            .map(|(i, st)| TemplateStep {
                name: &st.name,
                handler_class: &st.handler_class,
                depends_on: t
                    .graph
                    .parents(i as u32)
                    .iter()
                    .map(|&p| &**t.graph.name(p))
                    .collect(),
                retry_limit: st.default_retry_limit,
                retryable: st.default_retryable,
                skippable: st.skippable,
                level: t.graph.level(i as u32),
                handler_config: &t.handler_configs[i],
            })
            .collect(),
    }
}

impl Engine {
    /// Reads a task from the store with the GVL released (a SQL store goes to the database).
    fn read_task(&self, task_id: Value) -> Result<Option<TaskView>, Error> {
        let id = TaskId(to_i64(task_id, "task_id")?);
        self.off_gvl("the read", |engine| engine.task(id))
    }

    /// `task`: the task as stored, as a Hash, or nil when there is no such task.
    pub(super) fn task(
        ruby: &Ruby,
        rb_self: &Self,
        task_id: Value,
    ) -> Result<Option<Value>, Error> {
        guard(|| {
            let Some(task) = rb_self.read_task(task_id)? else {
                return Ok(None);
            };
            to_ruby(ruby, &task_row(&task), Keys::String).map(Some)
        })
    }

    /// `task_summary`: the task's state and, per step, its outcome — without history, so a
    /// summary of a large task is cheap, and one of a task this engine finished is read
    /// from memory (`tasker_engine::outcomes`). nil when there is no such task.
    pub(super) fn task_summary(
        ruby: &Ruby,
        rb_self: &Self,
        task_id: Value,
    ) -> Result<Option<Value>, Error> {
        guard(|| {
            let id = TaskId(to_i64(task_id, "task_id")?);
            let engine = rb_self.live()?;
            let Some(outcome) = blocking_unless_kept(engine, id)? else {
                return Ok(None);
            };
            to_ruby(ruby, &task_summary(&outcome), Keys::String).map(Some)
        })
    }

    /// The task's current state ("pending", "in_progress", ...), or nil when there is no
    /// such task: one indexed read, with the GVL released.
    pub(super) fn task_state(&self, task_id: Value) -> Result<Option<String>, Error> {
        guard(|| {
            let id = TaskId(to_i64(task_id, "task_id")?);
            if let Some(kept) = self.inner.kept_outcome(id) {
                return Ok(Some(kept.state.as_str().to_string()));
            }
            let state = blocking("the read", || self.inner.task_state(id))?;
            Ok(state.map(|s| s.as_str().to_string()))
        })
    }

    /// The task's step graph as stored now (`Native::TaskGraph`), or nil when there is no
    /// such task.
    pub(super) fn task_graph(&self, task_id: Value) -> Result<Option<TaskGraph>, Error> {
        guard(|| {
            let id = TaskId(to_i64(task_id, "task_id")?);
            let graph = self.off_gvl("the read", |engine| engine.task_graph(id))?;
            Ok(graph.map(TaskGraph::from_task))
        })
    }

    /// The registered template a name (and optional namespace and version) finds.
    fn find_template(
        &self,
        name: &str,
        namespace: Value,
        version: Value,
    ) -> Result<std::sync::Arc<RegisteredTemplate>, Error> {
        let ns = opt_string(namespace, "namespace")?;
        let ver = opt_string(version, "version")?;
        self.inner
            .template(name, ns.as_deref(), ver.as_deref())
            .map_err(err)
    }

    /// A registered template's step graph (`Native::TaskGraph`).
    pub(super) fn template_graph(
        &self,
        name: String,
        namespace: Value,
        version: Value,
    ) -> Result<TaskGraph, Error> {
        guard(|| {
            let t = self.find_template(&name, namespace, version)?;
            Ok(TaskGraph::from_dag(tasker_graph::Dag::from_template_graph(
                &t.graph,
            )))
        })
    }

    /// A registered template described as a Hash (name, namespace, version, source, steps…).
    pub(super) fn template_info(
        ruby: &Ruby,
        rb_self: &Self,
        name: String,
        namespace: Value,
        version: Value,
    ) -> Result<Value, Error> {
        guard(|| {
            rb_self
                .find_template(&name, namespace, version)
                .and_then(|t| to_ruby(ruby, &template_info(&t), Keys::String))
        })
    }

    pub(super) fn template_keys(&self) -> Vec<String> {
        self.inner.template_keys()
    }

    /// `{"namespace/name@version" => [task_id, ...]}`: unfinished tasks `recover` claimed
    /// that wait for their template to be registered.
    pub(super) fn awaiting_templates(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
        let awaiting = rb_self
            .inner
            .awaiting_templates()
            .into_iter()
            .map(|(key, ids)| (key, ids.iter().map(|id| id.0).collect::<Vec<_>>()))
            .collect();
        to_ruby(ruby, &Pairs(awaiting), Keys::String)
    }
}

/// A task's outcome: from memory when the engine kept it (no GVL release needed for a map
/// lookup), else read from the store with the GVL released.
fn blocking_unless_kept(engine: &Core, id: TaskId) -> Result<Option<Arc<TaskOutcome>>, Error> {
    if let Some(kept) = engine.kept_outcome(id) {
        return Ok(Some(kept));
    }
    blocking("the read", || engine.task_outcome(id))
}
