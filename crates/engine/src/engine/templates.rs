//! Templates on a running engine: registering them (which resumes the tasks recovery
//! parked for them), the handler classes' declared executions, the Ractor steps the Ruby
//! side checks before registering, and lookups.
//!
//! It must not submit or drive tasks: resuming parked tasks goes through `submit.rs`.

use super::submit::RecoveryReport;
use super::Engine;
use crate::registry::{RegisteredTemplate, TemplateRegistry};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tasker_model::template::load_templates;
use tasker_model::{Execution, TaskId, TaskTemplate, TaskerError, TaskerResult};

/// How long registering a template waits for the tasks that waited for it to resume.
const RESUME_TIMEOUT: Duration = Duration::from_secs(30);

impl Engine {
    /// Loads templates from a file or a directory and registers them all, or none when any
    /// is invalid. Returns the keys registered, as `namespace/name@version`.
    ///
    /// Takes what the checks before it made of the same `path` (see [`Checked`]): the
    /// templates they compiled when the declared executions have not changed since, else the
    /// ones they parsed; the files are then not read again.
    pub fn register_templates(&self, path: &Path) -> TaskerResult<Vec<String>> {
        let (compiled, _) = self.compiled_for(Input::Path(path), || load_templates(path))?;
        self.register_compiled(compiled)
    }

    /// Registers one template given as YAML text; `source` names it in errors.
    ///
    /// Takes what the checks before it made of the same text and source (see [`Checked`]):
    /// the template they compiled when the declared executions have not changed since, else
    /// the one they parsed.
    pub fn register_template_yaml(&self, yaml: &str, source: &str) -> TaskerResult<Vec<String>> {
        let (compiled, _) = self.compiled_for(Input::Text { yaml, source }, || {
            Ok(vec![TaskTemplate::from_yaml(yaml, source)?])
        })?;
        self.register_compiled(compiled)
    }

    /// The templates of `input` compiled as a registration compiles them, and
    /// [`Engine::declared_changes`] as of that: what the checks kept for `input` when it is
    /// still good (compiled, and no declaration has changed since; or parsed), else
    /// `parse()` compiled.
    fn compiled_for(
        &self,
        input: Input<'_>,
        parse: impl FnOnce() -> TaskerResult<Vec<TaskTemplate>>,
    ) -> TaskerResult<(Vec<Arc<RegisteredTemplate>>, u64)> {
        match self.take_checked(input) {
            Some(Stage::Compiled {
                declared,
                templates,
            }) if declared == self.declared_changes() => Ok((templates, declared)),
            Some(Stage::Parsed(templates)) => self.compile(templates),
            _ => self.compile(parse()?),
        }
    }

    /// What the checks kept for `input`, taken (so freed once used); `None` when they last
    /// looked at other text, another source or another path. Whatever was kept is taken
    /// either way.
    fn take_checked(&self, input: Input<'_>) -> Option<Stage> {
        let checked = self.checked_input.lock().take()?;
        checked.is(input).then_some(checked.stage)
    }

    /// Drops what the checks kept when no registration took it (a check refused the
    /// template): a large template would otherwise stay in memory until the next one.
    pub fn forget_checked(&self) {
        self.checked_input.lock().take();
    }

    /// Keeps `stage` for the registration of `input` that follows the checks.
    fn keep_checked(&self, input: Input<'_>, stage: Stage) {
        *self.checked_input.lock() = Some(Checked {
            input: input.kept(),
            stage,
        });
    }

    /// How many times a handler class's declared execution has changed: a template compiled
    /// before a change may not run its steps where they now belong.
    fn declared_changes(&self) -> u64 {
        self.handler_executions.read().changes
    }

    /// The steps that would run in Ractors if the templates at `path` were registered, as
    /// (handler class, "source (task key), step 'name'"); registers nothing. The Ruby side checks
    /// those handler classes before it registers. Keeps the templates it compiled for the
    /// registration of the same path.
    pub fn ractor_steps_in(&self, path: &Path) -> TaskerResult<Vec<(String, String)>> {
        self.ractor_steps_kept(Input::Path(path), || load_templates(path))
    }

    /// [`Engine::ractor_steps_in`] for one template given as YAML text. Keeps the template it
    /// compiled for the registration of the same text.
    pub fn ractor_steps_in_yaml(
        &self,
        yaml: &str,
        source: &str,
    ) -> TaskerResult<Vec<(String, String)>> {
        self.ractor_steps_kept(Input::Text { yaml, source }, || {
            Ok(vec![TaskTemplate::from_yaml(yaml, source)?])
        })
    }

    /// The Ractor steps of `input` compiled (from what the checks kept, else `parse()`),
    /// keeping the compiled templates for the registration that follows.
    fn ractor_steps_kept(
        &self,
        input: Input<'_>,
        parse: impl FnOnce() -> TaskerResult<Vec<TaskTemplate>>,
    ) -> TaskerResult<Vec<(String, String)>> {
        let (templates, declared) = self.compiled_for(input, parse)?;
        let steps = ractor_steps(&templates);
        self.keep_checked(
            input,
            Stage::Compiled {
                declared,
                templates,
            },
        );
        Ok(steps)
    }

    /// Applies the environment's overrides and the handler classes' declared executions,
    /// and compiles (so validates) every template. Also returns
    /// [`Engine::declared_changes`] as of the declarations it applied.
    fn compile(
        &self,
        templates: Vec<TaskTemplate>,
    ) -> TaskerResult<(Vec<Arc<RegisteredTemplate>>, u64)> {
        let mut templates = match &self.environment {
            // A template without overrides for the environment is used as it is
            // (`for_environment` would copy it).
            Some(env) => templates
                .into_iter()
                .map(|t| match t.environments.contains_key(env) {
                    true => t.for_environment(env),
                    false => Ok(t),
                })
                .collect::<TaskerResult<Vec<_>>>()?,
            None => templates,
        };
        let declared = self.handler_executions.read();
        if !declared.by_class.is_empty() {
            for step in templates
                .iter_mut()
                .flat_map(|t| t.step_templates.iter_mut())
            {
                if step.execution.is_none() {
                    step.execution = declared.by_class.get(step.handler_class.as_str()).copied();
                }
            }
        }
        let changes = declared.changes;
        drop(declared);
        Ok((TemplateRegistry::compile_all(templates)?, changes))
    }

    /// Records where `handler_class`'s steps run when their template step does not say
    /// (Ruby reads it from the class, `execution :ractor`, before registering). A step's own
    /// `execution:` still wins, and the class's declaration wins over the template default.
    pub fn declare_handler_execution(&self, handler_class: &str, execution: Execution) {
        let mut declared = self.handler_executions.write();
        if declared.by_class.get(handler_class) != Some(&execution) {
            declared
                .by_class
                .insert(handler_class.to_string(), execution);
            declared.changes += 1;
        }
    }

    /// The handler classes of steps in the templates at `path` (or in `yaml`) that do not
    /// say where they run, each once: the classes whose own declaration would decide it.
    /// Keeps the templates it parsed for the checks and registration of the same input.
    pub fn undeclared_handlers_in(
        &self,
        path: &Path,
        yaml: Option<&str>,
    ) -> TaskerResult<Vec<String>> {
        let source;
        let (input, templates) = match yaml {
            // The first look at a path reads its files again: nothing says whether they
            // changed since something kept them (text is compared whole instead).
            None => (Input::Path(path), load_templates(path)?),
            Some(yaml) => {
                source = path.display().to_string();
                let input = Input::Text {
                    yaml,
                    source: &source,
                };
                // Only a template as parsed says which steps do not say where they run: one
                // the checks compiled has the declared executions filled in.
                let templates = match self.take_checked(input) {
                    Some(Stage::Parsed(templates)) => templates,
                    _ => vec![TaskTemplate::from_yaml(yaml, &source)?],
                };
                (input, templates)
            }
        };
        let out = undeclared_handlers(&templates);
        self.keep_checked(input, Stage::Parsed(templates));
        Ok(out)
    }

    /// Stores and registers templates compiled (so validated) before the store records
    /// anything, then resumes the tasks that waited for them.
    fn register_compiled(
        &self,
        compiled: Vec<Arc<RegisteredTemplate>>,
    ) -> TaskerResult<Vec<String>> {
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

/// What the checks before a registration from Ruby made of one YAML text or one path, with
/// the input it came from.
///
/// Registering templates from Ruby hands their text (or their path) over three times (their
/// undeclared handler classes, their Ractor steps, then the registration itself). Parsing is
/// most of a large template's registration (~374 million instructions for a 10,000-step one,
/// callgrind) and compiling it ~24 million, so each call hands what it made to the next: the
/// first keeps the parsed templates, the second compiles those and keeps the result, and the
/// registration takes it. The templates are not copied on the way, and a path's files are
/// read once.
pub(crate) struct Checked {
    input: OwnedInput,
    stage: Stage,
}

impl Checked {
    fn is(&self, input: Input<'_>) -> bool {
        match (&self.input, input) {
            (OwnedInput::Text { yaml, source }, Input::Text { yaml: y, source: s }) => {
                source == s && yaml == y
            }
            (OwnedInput::Path(kept), Input::Path(path)) => kept == path,
            _ => false,
        }
    }
}

/// What the checks were given: one template's text and the source naming it, or the path of
/// a template file or directory.
#[derive(Clone, Copy)]
enum Input<'a> {
    Text { yaml: &'a str, source: &'a str },
    Path(&'a Path),
}

impl Input<'_> {
    fn kept(self) -> OwnedInput {
        match self {
            Input::Text { yaml, source } => OwnedInput::Text {
                yaml: yaml.to_string(),
                source: source.to_string(),
            },
            Input::Path(path) => OwnedInput::Path(path.to_path_buf()),
        }
    }
}

/// An [`Input`] kept with what the checks made of it.
enum OwnedInput {
    Text { yaml: String, source: String },
    Path(PathBuf),
}

/// How far the checks got with a [`Checked`] input.
enum Stage {
    /// Parsed, as the text says (no environment, no declared executions applied).
    Parsed(Vec<TaskTemplate>),
    /// Compiled as the registration would compile them, when the declared executions had
    /// changed `declared` times ([`Engine::declared_changes`]).
    Compiled {
        declared: u64,
        templates: Vec<Arc<RegisteredTemplate>>,
    },
}

/// Where handler classes declare their steps run (Ruby reads it from the class before it
/// registers), and how many times that has changed.
#[derive(Default)]
pub(crate) struct DeclaredExecutions {
    by_class: HashMap<String, Execution>,
    changes: u64,
}

/// The handler classes of the steps in `templates` that do not say where they run, each once.
fn undeclared_handlers(templates: &[TaskTemplate]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for step in templates.iter().flat_map(|t| t.step_templates.iter()) {
        if step.execution.is_none() && !out.contains(&step.handler_class) {
            out.push(step.handler_class.clone());
        }
    }
    out
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
