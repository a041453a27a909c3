//! Tasker task templates: the YAML format (TASKER.md, "Task templates"), parsing, and the
//! checks that need no graph (the resolver checks cycles when it compiles the graph).
//!
//! Parsing is two-phase so an error can name the step by its `name`, not by its index: the
//! file is read as a YAML value, then each step mapping is decoded on its own.

use crate::error::{TaskerError, TaskerResult};
use crate::schema::ContextSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
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

fn default_namespace() -> String {
    "default".to_string()
}

fn default_version() -> String {
    "0.1.0".to_string()
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

/// The top-level keys, decoded before the steps.
#[derive(Debug, Deserialize)]
struct Header {
    name: String,
    #[serde(default = "default_namespace")]
    namespace_name: String,
    #[serde(default = "default_version")]
    version: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    task_handler_class: Option<String>,
    #[serde(default)]
    module_namespace: Option<String>,
    #[serde(default)]
    default_dependent_system: Option<String>,
    #[serde(default)]
    named_steps: Option<Vec<String>>,
    #[serde(default)]
    schema: Option<Json>,
    #[serde(default)]
    custom_events: Option<Vec<CustomEvent>>,
    #[serde(default)]
    environments: Option<BTreeMap<String, Json>>,
    #[serde(default)]
    execution: Option<Execution>,
    // Keys of Tasker's format that the engine accepts and does not use (Tasker itself
    // ignores them, or they configure its Ruby task handler); typed, so a wrong type is
    // still refused with the key's name.
    #[serde(default, rename = "concurrent")]
    _concurrent: Option<bool>,
    #[serde(default, rename = "handler_config")]
    _handler_config: Option<BTreeMap<String, Json>>,
    #[serde(default, rename = "default_context")]
    _default_context: Option<Json>,
    #[serde(default, rename = "default_options")]
    _default_options: Option<Json>,
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

    /// Parses and validates one template from YAML text. `source` names it in errors.
    pub fn from_yaml(text: &str, source: &str) -> TaskerResult<TaskTemplate> {
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)
            .map_err(|e| TaskerError::validation(source, format!("unparseable YAML: {e}")))?;
        let serde_yaml_ng::Value::Mapping(mut map) = doc else {
            return Err(TaskerError::validation(
                source,
                "a task template must be a YAML mapping with `name` and `step_templates`",
            ));
        };
        let steps_yaml = map.remove("step_templates");
        let header: Header = decode(serde_yaml_ng::Value::Mapping(map))
            .map_err(|m| TaskerError::validation(source, m))?;
        let subject = format!("{source} (task {})", header.name);

        let steps = match steps_yaml {
            None | Some(serde_yaml_ng::Value::Null) => Vec::new(),
            Some(serde_yaml_ng::Value::Sequence(items)) => items,
            Some(_) => {
                return Err(TaskerError::validation(
                    &subject,
                    "step_templates: must be a list of steps",
                ))
            }
        };
        let mut step_templates = Vec::with_capacity(steps.len());
        for (index, item) in steps.into_iter().enumerate() {
            let label = match item.get("name").and_then(|n| n.as_str()) {
                Some(n) => format!("step '{n}'"),
                None => format!("step #{}", index + 1),
            };
            let step: StepTemplate = decode(item)
                .map_err(|m| TaskerError::validation(format!("{subject}, {label}"), m))?;
            step_templates.push(step);
        }

        let schema = match header.schema {
            None | Some(Json::Null) => None,
            Some(s) => Some(Arc::new(
                ContextSchema::compile(s).map_err(|m| TaskerError::validation(&subject, m))?,
            )),
        };
        let environments = header.environments.unwrap_or_default();
        let mut custom_event_details = header.custom_events.clone().unwrap_or_default();
        for event in step_templates.iter().flat_map(|s| s.custom_events.iter()) {
            if !custom_event_details.iter().any(|e| e.name == event.name) {
                custom_event_details.push(event.clone());
            }
        }
        let custom_events = (header.custom_events.is_some() || !custom_event_details.is_empty())
            .then(|| {
                custom_event_details
                    .iter()
                    .map(|e| e.name.clone())
                    .collect()
            });

        let template = TaskTemplate {
            name: header.name,
            namespace_name: header.namespace_name,
            version: header.version,
            description: header.description,
            task_handler_class: header.task_handler_class,
            module_namespace: header.module_namespace,
            default_dependent_system: header.default_dependent_system,
            named_steps: header.named_steps,
            schema,
            custom_events,
            custom_event_details,
            environments,
            step_templates,
            execution: header.execution.unwrap_or_default(),
            source: source.to_string(),
        };
        template.validate()?;
        Ok(template)
    }

    /// Reads and parses one template file.
    pub fn from_file(path: &Path) -> TaskerResult<TaskTemplate> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| TaskerError::validation(&source, format!("cannot read: {e}")))?;
        TaskTemplate::from_yaml(&text, &source)
    }

    /// The checks that need no graph: at least one step, names present and unique, a
    /// handler_class on every step, every dependency known and not the step itself.
    fn validate(&self) -> TaskerResult<()> {
        let subject = format!("{} (task {})", self.source, self.name);
        if self.name.trim().is_empty() {
            return Err(TaskerError::validation(
                &self.source,
                "name: must not be empty",
            ));
        }
        if self.step_templates.is_empty() {
            return Err(TaskerError::validation(
                &subject,
                "step_templates: a template needs at least one step",
            ));
        }
        let mut names = HashSet::with_capacity(self.step_templates.len());
        for (index, step) in self.step_templates.iter().enumerate() {
            if step.name.trim().is_empty() {
                return Err(TaskerError::validation(
                    format!("{subject}, step #{}", index + 1),
                    "name: must not be empty",
                ));
            }
            if !names.insert(step.name.as_str()) {
                return Err(TaskerError::validation(
                    format!("{subject}, step '{}'", step.name),
                    "duplicate step name: each step name must be unique in a template",
                ));
            }
            if step.handler_class.trim().is_empty() {
                return Err(TaskerError::validation(
                    format!("{subject}, step '{}'", step.name),
                    "handler_class: must name a Ruby class",
                ));
            }
        }
        for step in &self.step_templates {
            for parent in step.parents() {
                if parent == step.name {
                    return Err(TaskerError::validation(
                        format!("{subject}, step '{}'", step.name),
                        format!("dependency cycle: {0} -> {0}", step.name),
                    ));
                }
                if !names.contains(parent) {
                    return Err(TaskerError::validation(
                        format!("{subject}, step '{}'", step.name),
                        format!(
                            "unknown dependency '{parent}': no step of that name in this template"
                        ),
                    ));
                }
            }
        }
        if let Some(named) = &self.named_steps {
            // Tasker's rule: when a template lists its step names, every step and every
            // dependency must be one of them.
            for step in &self.step_templates {
                for name in std::iter::once(step.name.as_str()).chain(step.parents()) {
                    if !named.iter().any(|n| n == name) {
                        return Err(TaskerError::validation(
                            format!("{subject}, step '{}'", step.name),
                            format!(
                                "'{name}' is not listed in named_steps ({})",
                                named.join(", ")
                            ),
                        ));
                    }
                }
            }
        }
        if let Some(events) = &self.custom_events {
            if let Some(bad) = events.iter().find(|e| e.trim().is_empty()) {
                return Err(TaskerError::validation(
                    &subject,
                    format!("custom_events: invalid event name {bad:?}"),
                ));
            }
        }
        Ok(())
    }

    /// The template with one environment's overrides applied (TASKER.md `environments`),
    /// as Tasker applies them: an override names a step and replaces the fields it gives;
    /// `handler_config` mappings are merged key by key; an override naming no step of the
    /// template is ignored. An unknown environment leaves the template unchanged.
    pub fn for_environment(&self, env: &str) -> TaskerResult<TaskTemplate> {
        let mut out = self.clone();
        let Some(overrides) = self.environments.get(env) else {
            return Ok(out);
        };
        let subject = format!("{} (task {}), environments.{env}", self.source, self.name);
        let Some(steps) = overrides.get("step_templates").and_then(Json::as_array) else {
            return Ok(out);
        };
        for ov in steps {
            let name = ov.get("name").and_then(Json::as_str).ok_or_else(|| {
                TaskerError::validation(&subject, "each step override needs a `name`")
            })?;
            let Some(step) = out.step_templates.iter_mut().find(|s| s.name == name) else {
                continue;
            };
            let Json::Object(fields) = ov else {
                continue;
            };
            let mut merged = match serde_json::to_value(&*step) {
                Ok(Json::Object(m)) => m,
                _ => serde_json::Map::new(),
            };
            for (k, v) in fields {
                match (merged.get_mut(k), v) {
                    (Some(Json::Object(base)), Json::Object(more)) if k == "handler_config" => {
                        for (ck, cv) in more {
                            base.insert(ck.clone(), cv.clone());
                        }
                    }
                    _ => {
                        merged.insert(k.clone(), v.clone());
                    }
                }
            }
            *step = serde_path_to_error::deserialize(Json::Object(merged)).map_err(|e| {
                let path = e.path().to_string();
                TaskerError::validation(
                    format!("{subject}, step '{name}'"),
                    format!("{path}: {}", e.into_inner()),
                )
            })?;
        }
        out.validate()?;
        Ok(out)
    }
}

/// Decodes a YAML value, prefixing the error with the path of the offending field
/// (`default_retry_limit: invalid type: string "lots", expected u32`).
fn decode<T: serde::de::DeserializeOwned>(value: serde_yaml_ng::Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        }
    })
}

/// Loads every template under `path`: the file itself, or each `*.yml` / `*.yaml` file in
/// the directory tree, in path order. Fails on the first bad file, or when two files declare
/// the same (namespace, name, version), so a caller registers all or nothing.
pub fn load_templates(path: &Path) -> TaskerResult<Vec<TaskTemplate>> {
    let source = path.display().to_string();
    let meta = std::fs::metadata(path)
        .map_err(|e| TaskerError::validation(&source, format!("cannot read: {e}")))?;
    let files = if meta.is_dir() {
        let mut files = Vec::new();
        collect_yaml_files(path, &mut files)?;
        files.sort();
        if files.is_empty() {
            return Err(TaskerError::validation(
                &source,
                "no *.yml or *.yaml template files in this directory",
            ));
        }
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut templates: Vec<TaskTemplate> = Vec::with_capacity(files.len());
    for file in files {
        let t = TaskTemplate::from_file(&file)?;
        if let Some(prev) = templates.iter().find(|p| p.key() == t.key()) {
            return Err(TaskerError::validation(
                &t.source,
                format!("template {} is also defined in {}", t.key(), prev.source),
            ));
        }
        templates.push(t);
    }
    Ok(templates)
}

fn collect_yaml_files(dir: &Path, out: &mut Vec<PathBuf>) -> TaskerResult<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        TaskerError::validation(dir.display().to_string(), format!("cannot read: {e}"))
    })?;
    for entry in entries {
        let path = entry
            .map_err(|e| TaskerError::validation(dir.display().to_string(), e.to_string()))?
            .path();
        if path.is_dir() {
            collect_yaml_files(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yml") | Some("yaml")
        ) {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDER: &str = r#"
name: fulfil_order
namespace_name: shop
version: 1.0.0
task_handler_class: Shop::FulfilOrder
schema:
  type: object
  required: [order_id]
  properties: { order_id: { type: integer } }
step_templates:
  - name: reserve_stock
    handler_class: Shop::ReserveStock
  - name: charge_card
    handler_class: Shop::ChargeCard
    default_retry_limit: 5
    handler_config: { timeout_seconds: 10 }
  - name: ship
    handler_class: Shop::Ship
    depends_on_steps: [reserve_stock, charge_card]
  - name: notify
    handler_class: Shop::Notify
    depends_on_step: ship
"#;

    fn err(text: &str) -> String {
        TaskTemplate::from_yaml(text, "t.yaml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn parses_the_contract_example_with_defaults() {
        let t = TaskTemplate::from_yaml(ORDER, "order.yaml").unwrap();
        assert_eq!(t.key().to_string(), "shop/fulfil_order@1.0.0");
        assert_eq!(t.step_templates.len(), 4);
        let charge = &t.step_templates[1];
        assert_eq!(charge.default_retry_limit, 5);
        assert!(charge.default_retryable);
        assert!(!charge.skippable);
        assert_eq!(t.step_templates[0].default_retry_limit, 3);
        assert_eq!(
            t.step_templates[2].parents(),
            vec!["reserve_stock", "charge_card"]
        );
        assert_eq!(t.step_templates[3].parents(), vec!["ship"]);
        assert!(t.schema.is_some());
    }

    #[test]
    fn namespace_and_version_default() {
        let t = TaskTemplate::from_yaml(
            "name: x\nstep_templates: [{name: a, handler_class: A}]",
            "x.yaml",
        )
        .unwrap();
        assert_eq!(t.key().to_string(), "default/x@0.1.0");
    }

    #[test]
    fn rejects_unparseable_yaml_naming_the_file() {
        let m = err("name: [unclosed");
        assert!(m.starts_with("t.yaml: unparseable YAML"), "{m}");
    }

    #[test]
    fn rejects_no_steps() {
        assert!(err("name: x\nstep_templates: []").contains("at least one step"));
        assert!(err("name: x").contains("at least one step"));
    }

    #[test]
    fn rejects_duplicate_step_names_naming_the_step() {
        let m = err("name: x\nstep_templates:\n - {name: a, handler_class: A}\n - {name: a, handler_class: B}");
        assert!(
            m.contains("step 'a'") && m.contains("duplicate step name"),
            "{m}"
        );
    }

    #[test]
    fn rejects_missing_handler_class_naming_the_step() {
        let m = err("name: x\nstep_templates:\n - {name: a}");
        assert!(m.contains("step 'a'") && m.contains("handler_class"), "{m}");
    }

    #[test]
    fn rejects_unknown_dependency() {
        let m =
            err("name: x\nstep_templates:\n - {name: a, handler_class: A, depends_on_step: zz}");
        assert!(
            m.contains("step 'a'") && m.contains("unknown dependency 'zz'"),
            "{m}"
        );
    }

    #[test]
    fn rejects_wrong_field_type_naming_step_and_field() {
        let m = err(
            "name: x\nstep_templates:\n - {name: a, handler_class: A, default_retry_limit: lots}",
        );
        assert!(
            m.contains("t.yaml (task x), step 'a'") && m.contains("default_retry_limit"),
            "{m}"
        );
        let m =
            err("name: x\nstep_templates:\n - {name: a, handler_class: A, depends_on_steps: b}");
        assert!(m.contains("depends_on_steps"), "{m}");
        let m = err("name: [1]\nstep_templates: []");
        assert!(m.starts_with("t.yaml: "), "{m}");
    }

    #[test]
    fn rejects_a_bad_schema() {
        let m = err("name: x\nschema: {type: 12}\nstep_templates: [{name: a, handler_class: A}]");
        assert!(m.contains("schema"), "{m}");
    }

    #[test]
    fn environment_overrides_merge_handler_config() {
        let t = TaskTemplate::from_yaml(
            r#"
name: x
step_templates:
  - {name: a, handler_class: A, handler_config: {url: "http://prod", timeout_seconds: 5}}
environments:
  development:
    step_templates:
      - {name: a, handler_config: {url: "http://localhost"}}
"#,
            "x.yaml",
        )
        .unwrap();
        let dev = t.for_environment("development").unwrap();
        let cfg = dev.step_templates[0].handler_config.as_ref().unwrap();
        assert_eq!(cfg["url"], "http://localhost");
        assert_eq!(cfg["timeout_seconds"], 5);
        let prod = t.for_environment("production").unwrap();
        assert_eq!(
            prod.step_templates[0].handler_config.as_ref().unwrap()["url"],
            "http://prod"
        );
    }
}
