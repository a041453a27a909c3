//! Templates' named rows: what `register_template` writes, and the ids it caches so that a
//! `CreateTask` needs no lookups.
//!
//! Registration finds or creates, in order: the namespace (by name), the dependent systems
//! (each step's `dependent_system`, else the template's `default_dependent_system`, else
//! `default`), the named task (namespace, name, version), the named steps (dependent system,
//! name) and the `tasker_named_tasks_named_steps` rows. Rows that exist are reused as they
//! are, never rewritten: on a database the Tasker Rails engine also uses, its rows win.

use parking_lot::RwLock;
use serde::Serialize;
use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::Arc;
use tasker_model::{TaskTemplate, TaskerError, TaskerResult, TemplateKey};

/// A registered template's ids.
#[derive(Debug)]
pub(crate) struct TemplateRows {
    pub(crate) key: TemplateKey,
    pub(crate) named_task_id: i64,
    /// By step name: (named_step_id, position in the template's `step_templates`).
    pub(crate) steps: HashMap<String, (i64, u32)>,
}

#[derive(Default)]
struct Maps {
    by_key: HashMap<TemplateKey, Arc<TemplateRows>>,
    by_named_task: HashMap<i64, Arc<TemplateRows>>,
}

/// The templates registered with one store, by key (for writes) and by named task id (for
/// reads, which recover each step's template position from it).
#[derive(Default)]
pub(crate) struct TemplateCache {
    maps: RwLock<Maps>,
}

impl TemplateCache {
    pub(crate) fn get(&self, key: &TemplateKey) -> Option<Arc<TemplateRows>> {
        self.maps.read().by_key.get(key).cloned()
    }

    pub(crate) fn by_named_task(&self, named_task_id: i64) -> Option<Arc<TemplateRows>> {
        self.maps.read().by_named_task.get(&named_task_id).cloned()
    }

    /// Records a registration. Registered again under the same key (the same named task),
    /// the steps of the earlier registration stay known beside the new ones: a task built
    /// from the earlier version may still be waiting for its group commit, and its named
    /// steps' rows are still in the database (registration never deletes them). The new
    /// version's positions win for names both have.
    pub(crate) fn insert(&self, mut rows: TemplateRows) {
        let mut maps = self.maps.write();
        if let Some(earlier) = maps.by_key.get(&rows.key) {
            if earlier.named_task_id == rows.named_task_id {
                for (name, step) in &earlier.steps {
                    rows.steps.entry(name.clone()).or_insert(*step);
                }
            }
        }
        let rows = Arc::new(rows);
        maps.by_named_task.insert(rows.named_task_id, rows.clone());
        maps.by_key.insert(rows.key.clone(), rows);
    }
}

/// One step's named rows.
pub(crate) struct StepPlan {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    /// Index into [`TemplatePlan::dependent_systems`].
    pub(crate) dependent_system: usize,
    pub(crate) skippable: bool,
    pub(crate) default_retryable: bool,
    pub(crate) default_retry_limit: i32,
}

/// What registering a template writes, checked against the column sizes before any SQL runs
/// (so a template too big for Tasker's tables is a validation error naming the field, and
/// registers nothing).
pub(crate) struct TemplatePlan {
    pub(crate) key: TemplateKey,
    pub(crate) description: Option<String>,
    /// `tasker_named_tasks.configuration`: the template's handler classes, steps and their
    /// configuration, as JSON text (for people and tools reading the table; the engine reads
    /// templates from YAML).
    pub(crate) configuration: String,
    /// Distinct names, first use first.
    pub(crate) dependent_systems: Vec<String>,
    pub(crate) steps: Vec<StepPlan>,
}

impl TemplatePlan {
    /// The cache entry once the rows have ids (`step_ids` in step order).
    pub(crate) fn rows(&self, named_task_id: i64, step_ids: &[i64]) -> TemplateRows {
        TemplateRows {
            key: self.key.clone(),
            named_task_id,
            steps: self
                .steps
                .iter()
                .zip(step_ids)
                .enumerate()
                .map(|(i, (s, id))| (s.name.clone(), (*id, i as u32)))
                .collect(),
        }
    }
}

/// Column sizes of Tasker's tables (character varying(n)).
const NAMESPACE_MAX: usize = 64;
const TASK_NAME_MAX: usize = 64;
const VERSION_MAX: usize = 16;
const DEPENDENT_SYSTEM_MAX: usize = 64;
const STEP_NAME_MAX: usize = 128;
const DESCRIPTION_MAX: usize = 255;

/// The dependent system a step's named step belongs to.
fn dependent_system(template: &TaskTemplate, step: usize) -> &str {
    template.step_templates[step]
        .dependent_system
        .as_deref()
        .or(template.default_dependent_system.as_deref())
        .unwrap_or("default")
}

/// Descriptions are free text: cut to the column's size rather than refused.
fn description(text: Option<&str>) -> Option<String> {
    text.map(|d| d.chars().take(DESCRIPTION_MAX).collect())
}

pub(crate) fn plan_template(template: &TaskTemplate) -> TaskerResult<TemplatePlan> {
    let subject = format!("{} (task {})", template.source, template.name);
    let fits = |field: &str, value: &str, max: usize| -> TaskerResult<()> {
        if value.chars().count() > max {
            return Err(TaskerError::validation(
                &subject,
                format!(
                    "{field} {value:?} is longer than the {max} characters Tasker's tables allow"
                ),
            ));
        }
        Ok(())
    };
    fits("namespace_name", &template.namespace_name, NAMESPACE_MAX)?;
    fits("name", &template.name, TASK_NAME_MAX)?;
    fits("version", &template.version, VERSION_MAX)?;
    let mut dependent_systems: Vec<String> = Vec::new();
    let mut steps = Vec::with_capacity(template.step_templates.len());
    for (i, st) in template.step_templates.iter().enumerate() {
        fits("step name", &st.name, STEP_NAME_MAX)?;
        let ds = dependent_system(template, i);
        fits(
            &format!("step '{}': dependent_system", st.name),
            ds,
            DEPENDENT_SYSTEM_MAX,
        )?;
        let ds_index = match dependent_systems.iter().position(|d| d == ds) {
            Some(p) => p,
            None => {
                dependent_systems.push(ds.to_string());
                dependent_systems.len() - 1
            }
        };
        steps.push(StepPlan {
            name: st.name.clone(),
            description: description(st.description.as_deref()),
            dependent_system: ds_index,
            skippable: st.skippable,
            default_retryable: st.default_retryable,
            default_retry_limit: i32::try_from(st.default_retry_limit).unwrap_or(i32::MAX),
        });
    }
    Ok(TemplatePlan {
        key: template.key(),
        description: description(template.description.as_deref()),
        configuration: configuration(template),
        dependent_systems,
        steps,
    })
}

/// `tasker_named_tasks.configuration`. Its fields are in the order of their names: the
/// text is what a `serde_json::Value` of them printed before (its maps sort their keys while
/// serde_json's `preserve_order` feature is off, as Cargo.lock has it; the test below
/// compares the two).
#[derive(Serialize)]
struct Configuration<'a> {
    custom_events: &'a Option<Vec<String>>,
    default_dependent_system: &'a Option<String>,
    module_namespace: &'a Option<String>,
    registered_by: &'static str,
    source: &'a str,
    step_templates: Vec<StepConfiguration<'a>>,
    task_handler_class: &'a Option<String>,
}

/// A step of [`Configuration`].
#[derive(Serialize)]
struct StepConfiguration<'a> {
    default_retry_limit: u32,
    default_retryable: bool,
    depends_on_steps: Vec<&'a str>,
    handler_class: &'a str,
    handler_config: &'a Option<Json>,
    name: &'a str,
    skippable: bool,
}

/// Written straight from the template: building a `serde_json::Value` of it first and
/// printing that cost ~150 million instructions for 10,000 steps (callgrind), more than
/// writing the template's named rows on SQLite.
fn configuration(t: &TaskTemplate) -> String {
    let configuration = Configuration {
        custom_events: &t.custom_events,
        default_dependent_system: &t.default_dependent_system,
        module_namespace: &t.module_namespace,
        registered_by: "tasker-core",
        source: &t.source,
        step_templates: t
            .step_templates
            .iter()
            .map(|s| StepConfiguration {
                default_retry_limit: s.default_retry_limit,
                default_retryable: s.default_retryable,
                depends_on_steps: s.parents(),
                handler_class: &s.handler_class,
                handler_config: &s.handler_config,
                name: &s.name,
                skippable: s.skippable,
            })
            .collect(),
        task_handler_class: &t.task_handler_class,
    };
    serde_json::to_string(&configuration).expect("a template's configuration serializes")
}

#[cfg(test)]
mod tests {
    use super::configuration;
    use serde_json::json;
    use tasker_model::TaskTemplate;

    /// The text is what the `serde_json::Value` registration used to build printed, for a
    /// template with every field the configuration holds set, and with each left out.
    #[test]
    fn configuration_prints_as_the_value_it_replaced() {
        let full = "name: t\nnamespace_name: n\nversion: 1.0.0\n\
                    task_handler_class: Shop::Handler\nmodule_namespace: Shop\n\
                    default_dependent_system: warehouse\ncustom_events: [shop.z, shop.a]\n\
                    step_templates:\n\
                    \x20 - {name: b, handler_class: B, skippable: true, default_retryable: false,\n\
                    \x20    default_retry_limit: 7, handler_config: {z: 1, a: {y: [1, x], b: null}}}\n\
                    \x20 - {name: a, handler_class: A, depends_on_steps: [b]}\n";
        let bare = "name: t\nnamespace_name: n\nstep_templates:\n - {name: a, handler_class: A}\n";
        for yaml in [full, bare] {
            let t = TaskTemplate::from_yaml(yaml, "t.yaml").expect("valid template");
            let steps: Vec<_> = t
                .step_templates
                .iter()
                .map(|s| {
                    json!({
                        "name": s.name,
                        "handler_class": s.handler_class,
                        "depends_on_steps": s.parents(),
                        "default_retryable": s.default_retryable,
                        "default_retry_limit": s.default_retry_limit,
                        "skippable": s.skippable,
                        "handler_config": s.handler_config,
                    })
                })
                .collect();
            let value = json!({
                "registered_by": "tasker-core",
                "source": t.source,
                "task_handler_class": t.task_handler_class,
                "module_namespace": t.module_namespace,
                "default_dependent_system": t.default_dependent_system,
                "custom_events": t.custom_events,
                "step_templates": steps,
            });
            assert_eq!(configuration(&t), value.to_string(), "{yaml}");
        }
    }
}
