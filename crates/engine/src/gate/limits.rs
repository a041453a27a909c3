//! Concurrency limits: which caps a ready step counts against, and the names of those caps.
//!
//! A cap's name is a plain string (`handler:PaymentHandler`, `namespace:billing`,
//! `key:account_id=42`), so the same name can later key a counter shared by several
//! processes (a row or an advisory lock); nothing here assumes the count is local. It must
//! not count anything itself: the gate (`gate/mod.rs`) does.

use crate::work::ReadyStep;
use rustc_hash::FxHashMap;
use serde_json::Value as Json;
use std::sync::Arc;
use tasker_model::{TaskerError, TaskerResult};

/// Caps per handler class, per namespace, and per value of a task-context field. The maps
/// hash with FxHash: every step is looked up in them when any cap is configured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    /// Handler class name → its cap (named once here: `handler:<class>`, no allocation
    /// per step).
    pub handlers: FxHashMap<String, Cap>,
    /// Namespace → its cap (`namespace:<name>`).
    pub namespaces: FxHashMap<String, Cap>,
    /// Task-context field → most steps out at once per distinct value of that field (a
    /// task whose context lacks the field is not capped by it).
    pub keys: FxHashMap<String, u32>,
}

/// A cap a step counts against: its name and its limit.
pub type Cap = (Arc<str>, u32);

/// How the name of a cap on a task-context field's value begins (`key:<field>=<value>`):
/// such caps are named per value, so their counts cannot be kept once at 0.
pub const KEY_CAP_PREFIX: &str = "key:";

impl Limits {
    /// Reads `{"handlers" => {...}, "namespaces" => {...}, "keys" => {...}}`; every limit an
    /// Integer ≥ 1. The error names the entry at fault.
    pub fn from_json(config: &Json) -> TaskerResult<Limits> {
        let bad = |what: String, message: &str| {
            TaskerError::validation(
                format!("concurrency {what}").trim_end().to_string(),
                message,
            )
        };
        let Json::Object(groups) = config else {
            return Err(bad(
                "".into(),
                "expected a Hash of handlers:, namespaces:, keys:",
            ));
        };
        let mut limits = Limits::default();
        for (group, entries) in groups {
            let prefix = match group.as_str() {
                "handlers" => "handler",
                "namespaces" => "namespace",
                "keys" => "key",
                other => {
                    return Err(bad(
                        other.to_string(),
                        "unknown group (expected handlers, namespaces or keys)",
                    ))
                }
            };
            let Json::Object(entries) = entries else {
                return Err(bad(
                    group.clone(),
                    "expected a Hash of name => Integer limit",
                ));
            };
            for (name, limit) in entries {
                let limit = limit
                    .as_u64()
                    .filter(|&n| (1..=u32::MAX as u64).contains(&n))
                    .ok_or_else(|| bad(format!("{group}.{name}"), "expected an Integer ≥ 1"))?;
                let limit = limit as u32;
                let named = || -> Cap { (format!("{prefix}:{name}").into(), limit) };
                match prefix {
                    "handler" => drop(limits.handlers.insert(name.clone(), named())),
                    "namespace" => drop(limits.namespaces.insert(name.clone(), named())),
                    // A key's cap is named per value, when a step meets it.
                    _ => drop(limits.keys.insert(name.clone(), limit)),
                }
            }
        }
        Ok(limits)
    }

    /// True when nothing is capped (the gate's fast path).
    pub fn is_empty(&self) -> bool {
        self.handlers.is_empty() && self.namespaces.is_empty() && self.keys.is_empty()
    }

    /// Whether any cap applies to `step` (the fast path asks this; it allocates nothing).
    pub fn apply_to(&self, step: &ReadyStep) -> bool {
        self.handlers.contains_key(&**step.handler_class())
            || self.namespaces.contains_key(&*step.template.namespace)
            || self
                .keys
                .keys()
                .any(|f| step.task_context.get(f).is_some_and(|v| !v.is_null()))
    }

    /// The caps `step` counts against (none when nothing applies).
    pub fn caps_of(&self, step: &ReadyStep) -> Vec<Cap> {
        if self.is_empty() {
            return Vec::new();
        }
        let handler = self.handlers.get(&**step.handler_class());
        let namespace = self.namespaces.get(&*step.template.namespace);
        if handler.is_none() && namespace.is_none() && self.keys.is_empty() {
            // No cap applies: a step of another handler costs no allocation (and a held one
            // keeps no buffer).
            return Vec::new();
        }
        // Sized at once: growing from empty takes the grow path on the first push.
        let mut caps = Vec::with_capacity(2 + self.keys.len());
        caps.extend(handler.cloned());
        caps.extend(namespace.cloned());
        for (field, &n) in &self.keys {
            let value = match step.task_context.get(field) {
                None | Some(Json::Null) => continue,
                Some(Json::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            caps.push((format!("{KEY_CAP_PREFIX}{field}={value}").into(), n));
        }
        // One order for every process: with shared caps a step takes its caps' slots in this
        // order, never waiting on one while it keeps a later one (no cycle, so no deadlock
        // between processes; `gate/mod.rs`).
        caps.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        caps
    }
}
