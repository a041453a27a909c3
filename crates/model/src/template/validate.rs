//! The checks on a template that need no graph: steps present, named, unique, with a
//! handler, dependencies known, Tasker's `named_steps` rule, custom event names, and no
//! U+0000 in the names a store keeps.
//!
//! Owns only these rules, run on every parsed and every environment-overridden template;
//! it must not parse, and must not look for cycles longer than a step naming itself (the
//! resolver finds those when it compiles the graph).

use super::{StepTemplate, TaskTemplate};
use crate::error::{TaskerError, TaskerResult};
use std::collections::HashSet;

impl TaskTemplate {
    /// The checks that need no graph: at least one step, names present and unique, a
    /// handler_class on every step, every dependency known and not the step itself.
    pub(super) fn validate(&self) -> TaskerResult<()> {
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
        // Every per-step error names the step the same way, so a message can be grepped
        // for `step 'name'` whatever rule it broke.
        let step_error = |step: &StepTemplate, message: String| {
            Err(TaskerError::validation(
                format!("{subject}, step '{}'", step.name),
                message,
            ))
        };
        let mut names = HashSet::with_capacity(self.step_templates.len());
        for (index, step) in self.step_templates.iter().enumerate() {
            if step.name.trim().is_empty() {
                return Err(TaskerError::validation(
                    format!("{subject}, step #{}", index + 1),
                    "name: must not be empty",
                ));
            }
            if !names.insert(step.name.as_str()) {
                return step_error(
                    step,
                    "duplicate step name: each step name must be unique in a template".to_string(),
                );
            }
            if step.handler_class.trim().is_empty() {
                return step_error(step, "handler_class: must name a Ruby class".to_string());
            }
        }
        for step in &self.step_templates {
            for parent in step.parents() {
                if parent == step.name {
                    return step_error(step, format!("dependency cycle: {0} -> {0}", step.name));
                }
                if !names.contains(parent) {
                    return step_error(
                        step,
                        format!(
                            "unknown dependency '{parent}': no step of that name in this template"
                        ),
                    );
                }
            }
        }
        if let Some(named) = &self.named_steps {
            // Tasker's rule: when a template lists its step names, every step and every
            // dependency must be one of them. A set, so a long list is not scanned per name.
            let listed: HashSet<&str> = named.iter().map(String::as_str).collect();
            for step in &self.step_templates {
                for name in std::iter::once(step.name.as_str()).chain(step.parents()) {
                    if !listed.contains(name) {
                        return step_error(
                            step,
                            format!(
                                "'{name}' is not listed in named_steps ({})",
                                named.join(", ")
                            ),
                        );
                    }
                }
            }
        }
        self.check_no_nul(&subject)?;
        self.check_timeouts(&subject)?;
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

    /// Names the stores keep must not hold U+0000: PostgreSQL cannot store it, and a
    /// template one store refuses must be refused by all, when it is registered.
    fn check_no_nul(&self, subject: &str) -> TaskerResult<()> {
        // Searched first and named only when found: a 10,000-step template is checked
        // without formatting 30,000 field names it will never print.
        let header = [
            ("name", Some(&self.name)),
            ("namespace_name", Some(&self.namespace_name)),
            ("version", Some(&self.version)),
            (
                "default_dependent_system",
                self.default_dependent_system.as_ref(),
            ),
        ];
        let found = header
            .into_iter()
            .find(|(_, value)| value.is_some_and(|v| v.contains('\0')))
            .map(|(field, _)| field.to_string())
            .or_else(|| {
                self.step_templates.iter().find_map(|step| {
                    let fields = [
                        ("name", Some(&step.name)),
                        ("handler_class", Some(&step.handler_class)),
                        ("dependent_system", step.dependent_system.as_ref()),
                    ];
                    let (field, _) = fields
                        .into_iter()
                        .find(|(_, value)| value.is_some_and(|v| v.contains('\0')))?;
                    Some(format!(
                        "step '{}': {field}",
                        step.name.replace('\0', "\\u0000")
                    ))
                })
            });
        match found {
            Some(field) => Err(TaskerError::validation(
                subject,
                format!(
                    "{field}: contains a NUL character (\\u0000), which PostgreSQL cannot store"
                ),
            )),
            None => Ok(()),
        }
    }

    /// Every timeout given (a step's `timeout_seconds`, its `handler_config.timeout_seconds`,
    /// the template's `default_timeout_seconds`) is a positive, finite number of seconds.
    fn check_timeouts(&self, subject: &str) -> TaskerResult<()> {
        // Bounded (about 31 years) so every accepted value is a `Duration`.
        let bad = |v: f64| !(v.is_finite() && v > 0.0 && v <= 1e9);
        if let Some(v) = self.default_timeout_seconds.filter(|&v| bad(v)) {
            return Err(TaskerError::validation(
                subject,
                format!("default_timeout_seconds: must be a positive number of seconds, not {v}"),
            ));
        }
        for step in &self.step_templates {
            let at = || format!("{subject}, step '{}'", step.name);
            if let Some(v) = step.timeout_seconds.filter(|&v| bad(v)) {
                return Err(TaskerError::validation(
                    at(),
                    format!("timeout_seconds: must be a positive number of seconds, not {v}"),
                ));
            }
            let given = step
                .handler_config
                .as_ref()
                .and_then(|c| c.get("timeout_seconds"));
            match given {
                None | Some(serde_json::Value::Null) => {}
                Some(v) if v.as_f64().is_some_and(|n| !bad(n)) => {}
                Some(v) => {
                    return Err(TaskerError::validation(
                        at(),
                        format!(
                            "handler_config.timeout_seconds: must be a positive number of seconds, not {v}"
                        ),
                    ))
                }
            }
        }
        Ok(())
    }
}
