//! Tasker's per-environment overrides (`environments:` in a template), applied on request.
//!
//! Owns the merge of one environment's step overrides into a copy of the template; it must
//! not change the template it is given, and leaves validity to `validate`.

use super::TaskTemplate;
use crate::error::{TaskerError, TaskerResult};
use serde_json::Value as Json;

impl TaskTemplate {
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
