//! Turns YAML text (or a file) into a [`TaskTemplate`]: the top-level keys first, then each
//! step on its own so an error names the step by its `name`, not its index.
//!
//! Owns decoding and the defaults Tasker gives missing top-level keys; it must not judge
//! whether the decoded template makes sense (that is `validate`) nor read directories
//! (that is `load`).

use super::merge_keys::apply_merge_keys;
use super::{CustomEvent, Execution, StepTemplate, TaskTemplate};
use crate::error::{TaskerError, TaskerResult};
use crate::schema::ContextSchema;
use serde::Deserialize;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

fn default_namespace() -> String {
    "default".to_string()
}

fn default_version() -> String {
    "0.1.0".to_string()
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
    #[serde(default)]
    default_timeout_seconds: Option<f64>,
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

impl TaskTemplate {
    /// Parses and validates one template from YAML text. `source` names it in errors.
    pub fn from_yaml(text: &str, source: &str) -> TaskerResult<TaskTemplate> {
        let mut doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)
            .map_err(|e| TaskerError::validation(source, format!("unparseable YAML: {e}")))?;
        // Rebuilding every mapping costs a large template a few per cent of its parse.
        if text.contains("<<") {
            apply_merge_keys(&mut doc);
        }
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
            let item = match plain_step(item) {
                Ok(step) => {
                    step_templates.push(step);
                    continue;
                }
                Err(item) => item,
            };
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
            default_timeout_seconds: header.default_timeout_seconds,
            source: source.to_string(),
        };
        template.validate()?;
        Ok(template)
    }

    /// Reads and parses one template file. A file that is not UTF-8 is refused with the
    /// offset of its first bad byte (see [`utf8_text`]).
    pub fn from_file(path: &Path) -> TaskerResult<TaskTemplate> {
        let source = path.display().to_string();
        let bytes = std::fs::read(path)
            .map_err(|e| TaskerError::validation(&source, format!("cannot read: {e}")))?;
        TaskTemplate::from_yaml(utf8_text(&bytes, &source)?, &source)
    }
}

/// Template text as UTF-8, or a validation error naming `source` and where the first byte
/// that is not UTF-8 sits (byte offset, line and column), so a user can find it in an
/// editor. Files and Ruby Strings both go through here, so the message is the same
/// whichever way the text came.
pub fn utf8_text<'a>(bytes: &'a [u8], source: &str) -> TaskerResult<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| {
        let offset = e.valid_up_to();
        let before = &bytes[..offset];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = offset - before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) + 1;
        let what = match e.error_len() {
            Some(_) => format!("byte 0x{:02X}", bytes[offset]),
            None => "an incomplete character at the end".to_string(),
        };
        TaskerError::validation(
            source,
            format!(
                "template text is not valid UTF-8: {what} at byte offset {offset} (line {line}, byte column {column})"
            ),
        )
    })
}

/// The step keys [`plain_step`] decodes itself, each a string (`depends_on_steps`: a list
/// of strings).
const PLAIN_STEP_KEYS: [&str; 6] = [
    "name",
    "handler_class",
    "description",
    "dependent_system",
    "depends_on_step",
    "depends_on_steps",
];

/// The common step, decoded without serde (a 10,000-step template spent ~5,000 instructions
/// a step in `decode`): a mapping with `name` and `handler_class`, whose keys are all among
/// [`PLAIN_STEP_KEYS`] and whose values are plain strings (`depends_on_steps`: a sequence of
/// strings). It gives what serde gives such a mapping, with the same defaults. Anything
/// else (another key or type, a tag, null) is handed back untouched for [`decode`], so what
/// any other step decodes to, and every error, stays serde's.
pub(super) fn plain_step(item: serde_yaml_ng::Value) -> Result<StepTemplate, serde_yaml_ng::Value> {
    use serde_yaml_ng::Value as Yaml;
    let Yaml::Mapping(map) = &item else {
        return Err(item);
    };
    // Keys are unique in a mapping, so two required keys seen means both are there.
    let mut required = 0;
    let plain = map.iter().all(|(key, value)| match (key, value) {
        (Yaml::String(k), Yaml::String(_)) => {
            required += usize::from(k == "name" || k == "handler_class");
            k != "depends_on_steps" && PLAIN_STEP_KEYS.contains(&k.as_str())
        }
        (Yaml::String(k), Yaml::Sequence(items)) => {
            k == "depends_on_steps" && items.iter().all(|i| matches!(i, Yaml::String(_)))
        }
        _ => false,
    });
    if !plain || required != 2 {
        return Err(item);
    }
    let Yaml::Mapping(map) = item else {
        unreachable!("checked above")
    };
    let mut step = StepTemplate {
        name: String::new(),
        handler_class: String::new(),
        description: None,
        dependent_system: None,
        depends_on_step: None,
        depends_on_steps: Vec::new(),
        default_retryable: super::default_true(),
        default_retry_limit: super::default_retry_limit(),
        skippable: false,
        handler_config: None,
        execution: None,
        custom_events: Vec::new(),
        timeout_seconds: None,
    };
    for (key, value) in map {
        let (Yaml::String(key), value) = (key, value) else {
            unreachable!("checked above")
        };
        match (key.as_str(), value) {
            ("depends_on_steps", Yaml::Sequence(items)) => {
                step.depends_on_steps = items
                    .into_iter()
                    .filter_map(|i| match i {
                        Yaml::String(s) => Some(s),
                        _ => None,
                    })
                    .collect();
            }
            (key, Yaml::String(s)) => match key {
                "name" => step.name = s,
                "handler_class" => step.handler_class = s,
                "description" => step.description = Some(s),
                "dependent_system" => step.dependent_system = Some(s),
                "depends_on_step" => step.depends_on_step = Some(s),
                _ => unreachable!("checked above"),
            },
            _ => unreachable!("checked above"),
        }
    }
    Ok(step)
}

/// Decodes a YAML value, prefixing the error with the path of the offending field
/// (`default_retry_limit: invalid type: string "lots", expected u32`).
pub(super) fn decode<T: serde::de::DeserializeOwned>(
    value: serde_yaml_ng::Value,
) -> Result<T, String> {
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
