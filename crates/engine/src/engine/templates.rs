//! Templates on a running engine: registering them (which resumes the tasks recovery
//! parked for them), the handler classes' declared executions, the Ractor steps the Ruby
//! side checks before registering, and lookups.
//!
//! It must not submit or drive tasks: resuming parked tasks goes through `submit.rs`.

use super::submit::RecoveryReport;
use super::Engine;
use crate::registry::{RegisteredTemplate, TemplateRegistry};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tasker_model::template::load_templates;
use tasker_model::{Execution, TaskId, TaskTemplate, TaskerError, TaskerResult};

/// How long registering a template waits for the tasks that waited for it to resume.
const RESUME_TIMEOUT: Duration = Duration::from_secs(30);

impl Engine {
    /// Loads templates from a file or a directory and registers them all, or none when any
    /// is invalid. Returns the keys registered, as `namespace/name@version`.
    pub fn register_templates(&self, path: &Path) -> TaskerResult<Vec<String>> {
        let templates = load_templates(path)?;
        self.register(templates)
    }

    /// Registers one template given as YAML text; `source` names it in errors.
    pub fn register_template_yaml(&self, yaml: &str, source: &str) -> TaskerResult<Vec<String>> {
        let parsed = self.parsed_yaml.lock().take();
        let template = match parsed {
            Some(p) if p.source == source && p.yaml == yaml => p.template,
            _ => TaskTemplate::from_yaml(yaml, source)?,
        };
        self.register(vec![template])
    }

    /// `yaml` parsed, or the template parsed from the same text and source just before.
    ///
    /// Registering a template from Ruby hands its text over three times (its undeclared
    /// handler classes, its Ractor steps, then the registration itself), and parsing is
    /// nearly all of a large template's registration: ~440 million instructions a parse for
    /// a 10,000-step one (callgrind), where compiling and storing it cost a tenth of that. So
    /// the first two keep what they parsed and the registration takes it (freeing it).
    fn parse_yaml(&self, yaml: &str, source: &str) -> TaskerResult<TaskTemplate> {
        if let Some(p) = self.parsed_yaml.lock().as_ref() {
            if p.source == source && p.yaml == yaml {
                return Ok(p.template.clone());
            }
        }
        let template = TaskTemplate::from_yaml(yaml, source)?;
        *self.parsed_yaml.lock() = Some(ParsedYaml {
            source: source.to_string(),
            yaml: yaml.to_string(),
            template: template.clone(),
        });
        Ok(template)
    }

    /// The steps that would run in Ractors if the templates at `path` were registered, as
    /// (handler class, "source (task key), step 'name'"); registers nothing. The Ruby side checks
    /// those handler classes before it registers.
    pub fn ractor_steps_in(&self, path: &Path) -> TaskerResult<Vec<(String, String)>> {
        Ok(ractor_steps(&self.compile(load_templates(path)?)?))
    }

    /// [`Engine::ractor_steps_in`] for one template given as YAML text.
    pub fn ractor_steps_in_yaml(
        &self,
        yaml: &str,
        source: &str,
    ) -> TaskerResult<Vec<(String, String)>> {
        Ok(ractor_steps(
            &self.compile(vec![self.parse_yaml(yaml, source)?])?,
        ))
    }

    /// Applies the environment's overrides and the handler classes' declared executions,
    /// and compiles (so validates) every template.
    fn compile(&self, templates: Vec<TaskTemplate>) -> TaskerResult<Vec<Arc<RegisteredTemplate>>> {
        let mut templates = match &self.environment {
            Some(env) => templates
                .iter()
                .map(|t| t.for_environment(env))
                .collect::<TaskerResult<Vec<_>>>()?,
            None => templates,
        };
        let declared = self.handler_executions.read();
        if !declared.is_empty() {
            for step in templates
                .iter_mut()
                .flat_map(|t| t.step_templates.iter_mut())
            {
                if step.execution.is_none() {
                    step.execution = declared.get(step.handler_class.as_str()).copied();
                }
            }
        }
        drop(declared);
        TemplateRegistry::compile_all(templates)
    }

    /// Records where `handler_class`'s steps run when their template step does not say
    /// (Ruby reads it from the class, `execution :ractor`, before registering). A step's own
    /// `execution:` still wins, and the class's declaration wins over the template default.
    pub fn declare_handler_execution(&self, handler_class: &str, execution: Execution) {
        self.handler_executions
            .write()
            .insert(handler_class.to_string(), execution);
    }

    /// The handler classes of steps in the templates at `path` (or in `yaml`) that do not
    /// say where they run, each once: the classes whose own declaration would decide it.
    pub fn undeclared_handlers_in(
        &self,
        path: &Path,
        yaml: Option<&str>,
    ) -> TaskerResult<Vec<String>> {
        let templates = match yaml {
            Some(text) => vec![self.parse_yaml(text, &path.display().to_string())?],
            None => load_templates(path)?,
        };
        let mut out: Vec<String> = Vec::new();
        for step in templates.iter().flat_map(|t| t.step_templates.iter()) {
            if step.execution.is_none() && !out.contains(&step.handler_class) {
                out.push(step.handler_class.clone());
            }
        }
        Ok(out)
    }

    fn register(&self, templates: Vec<TaskTemplate>) -> TaskerResult<Vec<String>> {
        // Compile (and so validate) everything before the store records anything.
        let compiled = self.compile(templates)?;
        for t in &compiled {
            self.store.register_template(&t.template)?;
        }
        self.registry.insert_all(&compiled);
        let keys: Vec<String> = compiled.iter().map(|t| t.key.to_string()).collect();
        self.resume_awaiting(&keys)?;
        Ok(keys)
    }

    /// Resumes the tasks `recover` parked because one of `keys` was not registered yet.
    /// Registration has succeeded when this runs, so a failure names what to do next.
    fn resume_awaiting(&self, keys: &[String]) -> TaskerResult<()> {
        let ids = self.awaiting.take(keys);
        if ids.is_empty() || self.is_stopped() {
            return Ok(());
        }
        let count = ids.len();
        self.resume_claimed(ids, RESUME_TIMEOUT, &mut RecoveryReport::default())
            .map_err(|e| {
                TaskerError::Orchestration(format!(
                    "templates {} were registered, but resuming the {count} unfinished task(s) \
                     waiting for them failed: {e}; call recover to try again",
                    keys.join(", ")
                ))
            })
    }

    /// Unfinished tasks claimed by `recover` that wait for a template to be registered, by
    /// template key (`namespace/name@version`). Registering the template resumes them.
    pub fn awaiting_templates(&self) -> Vec<(String, Vec<TaskId>)> {
        self.awaiting.snapshot()
    }

    /// The registered template for a name (see [`TemplateRegistry::find`]).
    pub fn template(
        &self,
        name: &str,
        namespace: Option<&str>,
        version: Option<&str>,
    ) -> TaskerResult<Arc<RegisteredTemplate>> {
        self.registry.find(name, namespace, version)
    }

    /// See [`TemplateRegistry::caller_hooks_absent`].
    pub fn caller_hooks_absent(&self, template: &RegisteredTemplate) -> bool {
        self.registry.caller_hooks_absent(template)
    }

    /// See [`TemplateRegistry::caller_hooks_epoch`].
    pub fn caller_hooks_epoch(&self) -> u64 {
        self.registry.caller_hooks_epoch()
    }

    /// See [`TemplateRegistry::set_caller_hooks_absent`].
    pub fn set_caller_hooks_absent(&self, template: &RegisteredTemplate, epoch: u64) {
        self.registry.set_caller_hooks_absent(template, epoch);
    }

    /// See [`TemplateRegistry::forget_caller_hooks`].
    pub fn forget_caller_hooks(&self) {
        self.registry.forget_caller_hooks();
    }

    /// Every registered template's key.
    pub fn template_keys(&self) -> Vec<String> {
        self.registry
            .keys()
            .iter()
            .map(ToString::to_string)
            .collect()
    }
}

/// A template parsed from YAML text, with the text and source it was parsed from.
pub(crate) struct ParsedYaml {
    source: String,
    yaml: String,
    template: TaskTemplate,
}

/// (handler class, "source (task key), step 'name'") of every `execution: ractor` step.
fn ractor_steps(compiled: &[Arc<RegisteredTemplate>]) -> Vec<(String, String)> {
    compiled
        .iter()
        .flat_map(|t| {
            t.executions
                .iter()
                .enumerate()
                .filter(|(_, e)| **e == Execution::Ractor)
                .map(move |(i, _)| {
                    let step = &t.template.step_templates[i];
                    (
                        step.handler_class.clone(),
                        format!(
                            "{} (task {}), step '{}'",
                            t.template.source, t.key, step.name
                        ),
                    )
                })
        })
        .collect()
}
