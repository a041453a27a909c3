//! Tasker task templates: the YAML format (TASKER.md, "Task templates"), parsing, and the
//! checks that need no graph (the resolver checks cycles when it compiles the graph).
//!
//! # Layout
//! - this file: the template types, as the rest of tasker-core reads them.
//! - `parse`: YAML text or a file into a [`TaskTemplate`] (the top-level keys, then each step),
//!   and [`utf8_text`], the UTF-8 check every template's bytes pass first.
//! - `merge_keys`: YAML's `<<` merge keys, applied as Ruby's Psych applies them.
//! - `validate`: the graph-free checks every parsed or overridden template must pass.
//! - `environment`: [`TaskTemplate::for_environment`], Tasker's per-environment overrides.
//! - `load`: [`load_templates`], every template file under a path, all or nothing.

mod environment;
mod load;
mod merge_keys;
mod parse;
#[cfg(test)]
mod plain_step_tests;
#[cfg(test)]
mod tests;
mod validate;

pub use load::load_templates;
pub use parse::utf8_text;

use crate::schema::ContextSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// How a template is identified: (namespace_name, name, version).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TemplateKey {
    pub namespace: String,
    pub name: String,
    pub version: String,
}

impl fmt::Display for TemplateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}@{}", self.namespace, self.name, self.version)
    }
}

/// One step of a template. Keys Tasker accepts that tasker-core does not use are
/// accepted and ignored, as Tasker ignores keys its schema does not list (see
/// docs/tasker-compat.md).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct StepTemplate {
    pub name: String,
    pub handler_class: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub dependent_system: Option<String>,
    #[serde(default)]
    pub depends_on_step: Option<String>,
    #[serde(default)]
    pub depends_on_steps: Vec<String>,
    #[serde(default = "default_true")]
    pub default_retryable: bool,
    #[serde(default = "default_retry_limit")]
    pub default_retry_limit: u32,
    #[serde(default)]
    pub skippable: bool,
    /// Free-form mapping handed to the handler (`timeout_seconds`, URLs, …).
    #[serde(default)]
    pub handler_config: Option<Json>,
    /// Where the handler runs; the template's `execution` when not given.
    #[serde(default)]
    pub execution: Option<Execution>,
    /// Events this step's handler may publish (Tasker's step-level `custom_events`); they
    /// join the template's list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_events: Vec<CustomEvent>,
    /// Seconds an attempt may run before it fails with `TaskerCore::TimeoutError`; wins over
    /// `handler_config: {timeout_seconds:}` (Tasker's place for it) and the template's
    /// `default_timeout_seconds` (see [`TaskTemplate::step_timeout`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<f64>,
}

/// A custom event a template declares: a name, as Tasker's example templates write it
/// (`- name: order.shipped` with an optional `description:`) or as a plain string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CustomEvent {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl<'de> Deserialize<'de> for CustomEvent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Name(String),
            Entry {
                name: String,
                #[serde(default)]
                description: Option<String>,
            },
        }
        match Form::deserialize(d) {
            Ok(Form::Name(name)) => Ok(CustomEvent {
                name,
                description: None,
            }),
            Ok(Form::Entry { name, description }) => Ok(CustomEvent { name, description }),
            Err(_) => Err(serde::de::Error::custom(
                "expected an event name, or a mapping with `name` (and optional `description`)",
            )),
        }
    }
}

/// Where a step's handler runs: on the Ruby thread pool (the default; any Ruby code) or in
/// a Ractor (parallel on every core; the handler must be Ractor-safe).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Execution {
    #[default]
    Thread,
    Ractor,
}

impl Execution {
    /// Both, in index order.
    pub const ALL: [Execution; 2] = [Execution::Thread, Execution::Ractor];

    /// 0 for threads, 1 for Ractors: indexes per-executor tables (the engine's queues).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// `thread` or `ractor`.
    pub fn as_str(self) -> &'static str {
        match self {
            Execution::Thread => "thread",
            Execution::Ractor => "ractor",
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_retry_limit() -> u32 {
    3
}

impl StepTemplate {
    /// Every parent named by `depends_on_step` and `depends_on_steps`, first mention first,
    /// without repeats.
    pub fn parents(&self) -> Vec<&str> {
        let mut seen = Vec::new();
        for p in self
            .depends_on_step
            .iter()
            .chain(self.depends_on_steps.iter())
        {
            if !seen.contains(&p.as_str()) {
                seen.push(p.as_str());
            }
        }
        seen
    }
}

/// A parsed, validated task template.
#[derive(Debug, Clone)]
pub struct TaskTemplate {
    pub name: String,
    pub namespace_name: String,
    pub version: String,
    pub description: Option<String>,
    pub task_handler_class: Option<String>,
    pub module_namespace: Option<String>,
    pub default_dependent_system: Option<String>,
    pub named_steps: Option<Vec<String>>,
    pub schema: Option<Arc<ContextSchema>>,
    /// The custom events handlers may publish (names), from the template's and its
    /// steps' `custom_events`; `None` when neither lists any (then any name is allowed).
    pub custom_events: Option<Vec<String>>,
    /// The same events with their descriptions, as declared.
    pub custom_event_details: Vec<CustomEvent>,
    /// Per-environment overrides of step fields, keyed by environment name.
    pub environments: BTreeMap<String, Json>,
    pub step_templates: Vec<StepTemplate>,
    /// Where steps run unless a step says otherwise (`execution: ractor`).
    pub execution: Execution,
    /// Seconds an attempt of any step may run unless the step says otherwise
    /// (`default_timeout_seconds:`); `None`: the engine's default applies.
    pub default_timeout_seconds: Option<f64>,
    /// Where the template came from (a file path, or `<string>`), for error messages.
    pub source: String,
}

impl TaskTemplate {
    /// The template's identity.
    pub fn key(&self) -> TemplateKey {
        TemplateKey {
            namespace: self.namespace_name.clone(),
            name: self.name.clone(),
            version: self.version.clone(),
        }
    }

    /// Step `index`'s timeout in seconds, first given of: the step's `timeout_seconds`, its
    /// `handler_config.timeout_seconds`, the template's `default_timeout_seconds`. `None`
    /// when none is given (the engine's default then applies). Validation has checked each
    /// is a positive number.
    pub fn step_timeout(&self, index: usize) -> Option<f64> {
        let step = &self.step_templates[index];
        step.timeout_seconds
            .or_else(|| step.config_timeout())
            .or(self.default_timeout_seconds)
    }
}

impl StepTemplate {
    /// `handler_config.timeout_seconds` when it is a number.
    pub(crate) fn config_timeout(&self) -> Option<f64> {
        self.handler_config
            .as_ref()?
            .get("timeout_seconds")
            .and_then(Json::as_f64)
    }
}
