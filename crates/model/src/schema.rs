//! The JSON Schema that a task's context must satisfy at submission (template `schema`).
//!
//! The schema is compiled once when the template is loaded, so a bad schema is a template
//! error and checking a context is only the validation itself.

use serde_json::Value as Json;
use std::fmt;

/// A compiled context schema.
pub struct ContextSchema {
    raw: Json,
    validator: jsonschema::Validator,
}

impl fmt::Debug for ContextSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextSchema")
            .field("raw", &self.raw)
            .finish()
    }
}

impl ContextSchema {
    /// Compiles `raw`; the error text says what is wrong with the schema.
    pub fn compile(raw: Json) -> Result<ContextSchema, String> {
        let validator = jsonschema::validator_for(&raw)
            .map_err(|e| format!("schema: invalid JSON Schema: {e}"))?;
        Ok(ContextSchema { raw, validator })
    }

    /// The schema as written in the template.
    pub fn raw(&self) -> &Json {
        &self.raw
    }

    /// Checks `context`. The error lists up to five violations, each with the JSON pointer of
    /// the offending value, e.g. `/order_id: "x" is not of type "integer"`.
    pub fn check(&self, context: &Json) -> Result<(), String> {
        if self.validator.is_valid(context) {
            return Ok(());
        }
        let problems: Vec<String> = self
            .validator
            .iter_errors(context)
            .take(5)
            .map(|e| {
                let path = e.instance_path().to_string();
                let path = if path.is_empty() {
                    "/".to_string()
                } else {
                    path
                };
                format!("{path}: {e}")
            })
            .collect();
        Err(problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checks_required_and_types_with_paths() {
        let s = ContextSchema::compile(json!({
            "type": "object",
            "required": ["order_id"],
            "properties": {"order_id": {"type": "integer"}}
        }))
        .unwrap();
        assert!(s.check(&json!({"order_id": 5})).is_ok());
        let m = s.check(&json!({"order_id": "x"})).unwrap_err();
        assert!(m.starts_with("/order_id: "), "{m}");
        let m = s.check(&json!({})).unwrap_err();
        assert!(m.contains("order_id"), "{m}");
    }

    #[test]
    fn rejects_an_invalid_schema() {
        assert!(ContextSchema::compile(json!({"type": 12})).is_err());
    }
}
