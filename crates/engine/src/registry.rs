//! Registered templates.
//!
//! A template is compiled once at registration; submissions look it up under a read lock
//! and share it by `Arc`, so a task keeps the template it started with even if a newer one
//! is registered under the same key while it runs.

use parking_lot::RwLock;
use rustc_hash::FxHashMap;
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tasker_model::{Execution, TaskTemplate, TaskerError, TaskerResult, TemplateKey};
use tasker_resolver::TemplateGraph;

/// A template ready to run.
#[derive(Debug)]
pub struct RegisteredTemplate {
    pub template: TaskTemplate,
    pub graph: TemplateGraph,
    pub key: TemplateKey,
    pub task_name: Arc<str>,
    pub namespace: Arc<str>,
    pub version: Arc<str>,
    /// Per step, in template order.
    pub handler_classes: Vec<Arc<str>>,
    /// Per step, in template order; `{}` when the template gives none.
    pub handler_configs: Vec<Arc<Json>>,
    /// Per step, in template order: the step's `execution`, else the template's.
    pub executions: Vec<Execution>,
    /// Per step, in template order: how long an attempt may run, from the template
    /// (`TaskTemplate::step_timeout`); `None` leaves it to the engine's default.
    pub timeouts: Vec<Option<Duration>>,
    /// When the caller's layer (the Ruby binding) last said that a submission of this
    /// template needs no preparation there (a `task_handler_class` without a hook that runs
    /// before submission): the registry's hooks epoch + 1 then, 0 never,
    /// [`NO_HANDLER_CLASS`] for a template without a class. Read and written through the
    /// registry ([`TemplateRegistry::caller_hooks_absent`]), so that forgetting what the
    /// caller learnt is one step for every template.
    caller_hooks_absent_in: AtomicU64,
}

impl RegisteredTemplate {
    /// Compiles `template`; fails on a dependency cycle.
    pub fn compile(template: TaskTemplate) -> TaskerResult<RegisteredTemplate> {
        let graph = TemplateGraph::compile(&template)?;
        Ok(RegisteredTemplate {
            key: template.key(),
            task_name: Arc::from(template.name.as_str()),
            namespace: Arc::from(template.namespace_name.as_str()),
            version: Arc::from(template.version.as_str()),
            handler_classes: template
                .step_templates
                .iter()
                .map(|s| Arc::from(s.handler_class.as_str()))
                .collect(),
            handler_configs: template
                .step_templates
                .iter()
                .map(|s| Arc::new(s.handler_config.clone().unwrap_or_else(|| json!({}))))
                .collect(),
            executions: template
                .step_templates
                .iter()
                .map(|s| s.execution.unwrap_or(template.execution))
                .collect(),
            timeouts: (0..template.step_templates.len())
                .map(|i| {
                    let secs = template.step_timeout(i)?;
                    Duration::try_from_secs_f64(secs).ok()
                })
                .collect(),
            caller_hooks_absent_in: AtomicU64::new(match template.task_handler_class {
                None => NO_HANDLER_CLASS,
                Some(_) => 0,
            }),
            graph,
            template,
        })
    }
}

/// Versions compare by their numeric dot-separated parts ("1.10.0" > "1.9.2"); text parts
/// compare as text after numbers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct VersionOrder(Vec<(u64, String)>);

impl VersionOrder {
    fn of(v: &str) -> VersionOrder {
        VersionOrder(
            v.split(['.', '-', '+'])
                .map(|p| match p.parse::<u64>() {
                    Ok(n) => (n, String::new()),
                    Err(_) => (u64::MAX, p.to_string()),
                })
                .collect(),
        )
    }
}

type Versions = BTreeMap<VersionOrder, Arc<RegisteredTemplate>>;

/// `caller_hooks_absent_in` of a template without a `task_handler_class`: nothing for the
/// caller to prepare, whatever it learns.
const NO_HANDLER_CLASS: u64 = u64::MAX;

/// All registered templates, by name, then namespace, then version. Name first because a
/// submission names the task and usually nothing else: the lookup must not allocate.
/// FxHash, not SipHash: hashing the name was most of the lookup every submit makes on the
/// caller's thread, and template names come from the app's own files.
#[derive(Default)]
pub struct TemplateRegistry {
    by_name: RwLock<FxHashMap<String, BTreeMap<String, Versions>>>,
    /// Moves on at every registration and every [`Self::forget_caller_hooks`]: what the
    /// caller said in an earlier epoch no longer counts (its classes may have changed).
    caller_hooks_epoch: AtomicU64,
}

impl TemplateRegistry {
    /// Compiles every template and registers them all, or none if any fails.
    pub fn register_all(
        &self,
        templates: Vec<TaskTemplate>,
    ) -> TaskerResult<Vec<Arc<RegisteredTemplate>>> {
        let compiled = Self::compile_all(templates)?;
        self.insert_all(&compiled);
        Ok(compiled)
    }

    /// Compiles every template, failing on the first invalid one; registers nothing.
    pub fn compile_all(templates: Vec<TaskTemplate>) -> TaskerResult<Vec<Arc<RegisteredTemplate>>> {
        templates
            .into_iter()
            .map(|t| RegisteredTemplate::compile(t).map(Arc::new))
            .collect()
    }

    /// Registers compiled templates, replacing any with the same key.
    pub fn insert_all(&self, compiled: &[Arc<RegisteredTemplate>]) {
        let mut map = self.by_name.write();
        for t in compiled {
            map.entry(t.key.name.clone())
                .or_default()
                .entry(t.key.namespace.clone())
                .or_default()
                .insert(VersionOrder::of(&t.key.version), t.clone());
        }
        drop(map);
        // A registration may bring classes the caller has not looked at: what it learnt
        // before, about any template, may be stale (Ruby's cache is emptied too).
        self.forget_caller_hooks();
    }

    /// Whether the caller said, in the current epoch, that `template`'s submissions need no
    /// preparation on its side (or the template has no `task_handler_class`).
    pub fn caller_hooks_absent(&self, template: &RegisteredTemplate) -> bool {
        let said_in = template.caller_hooks_absent_in.load(Ordering::Acquire);
        said_in == NO_HANDLER_CLASS || said_in == self.caller_hooks_epoch() + 1
    }

    /// The epoch to hand back to [`Self::set_caller_hooks_absent`]: read before the caller
    /// looks at its classes, so a registration or forgetting meanwhile voids the answer.
    pub fn caller_hooks_epoch(&self) -> u64 {
        self.caller_hooks_epoch.load(Ordering::Acquire)
    }

    /// The caller learnt, in `epoch`, that `template` needs no preparation on its side. An
    /// answer from an earlier epoch is stored as such and never counts.
    pub fn set_caller_hooks_absent(&self, template: &RegisteredTemplate, epoch: u64) {
        if template.caller_hooks_absent_in.load(Ordering::Relaxed) != NO_HANDLER_CLASS {
            template.caller_hooks_absent_in.store(
                epoch.saturating_add(1).min(NO_HANDLER_CLASS - 1),
                Ordering::Release,
            );
        }
    }

    /// Voids everything the caller said about every template (it reloaded its classes).
    pub fn forget_caller_hooks(&self) {
        self.caller_hooks_epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Finds a template by name, optionally narrowed by namespace and version. Without a
    /// version the highest one wins; without a namespace the name must be unique across
    /// namespaces.
    pub fn find(
        &self,
        name: &str,
        namespace: Option<&str>,
        version: Option<&str>,
    ) -> TaskerResult<Arc<RegisteredTemplate>> {
        let map = self.by_name.read();
        let namespaces = map.get(name);
        let versions = match (namespaces, namespace) {
            (Some(nss), Some(ns)) => nss.get(ns),
            (Some(nss), None) if nss.len() > 1 => {
                let list: Vec<&str> = nss.keys().map(String::as_str).collect();
                return Err(TaskerError::validation(
                    format!("task '{name}'"),
                    format!(
                        "is registered in several namespaces ({}); pass namespace:",
                        list.join(", ")
                    ),
                ));
            }
            (Some(nss), None) => nss.values().next(),
            (None, _) => None,
        };
        let Some(versions) = versions else {
            let mut known: Vec<String> = map
                .iter()
                .flat_map(|(n, nss)| nss.keys().map(move |ns| format!("{ns}/{n}")))
                .collect();
            known.sort();
            return Err(TaskerError::validation(
                format!(
                    "task '{}{name}'",
                    namespace.map(|n| format!("{n}/")).unwrap_or_default()
                ),
                format!(
                    "no such template is registered (registered: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        };
        match version {
            None => Ok(versions.values().next_back().expect("non-empty").clone()),
            Some(v) => versions.get(&VersionOrder::of(v)).cloned().ok_or_else(|| {
                let have: Vec<&str> = versions.values().map(|t| t.key.version.as_str()).collect();
                TaskerError::validation(
                    format!("task '{name}' version {v}"),
                    format!("not registered (registered versions: {})", have.join(", ")),
                )
            }),
        }
    }

    /// Every registered template's key.
    pub fn keys(&self) -> Vec<TemplateKey> {
        let map = self.by_name.read();
        let mut keys: Vec<TemplateKey> = map
            .values()
            .flat_map(|nss| nss.values())
            .flat_map(|v| v.values().map(|t| t.key.clone()))
            .collect();
        keys.sort();
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ns: &str, name: &str, version: &str) -> TaskTemplate {
        TaskTemplate::from_yaml(
            &format!("name: {name}\nnamespace_name: {ns}\nversion: '{version}'\nstep_templates: [{{name: a, handler_class: A}}]"),
            "t",
        )
        .unwrap()
    }

    #[test]
    fn finds_highest_version_and_exact_versions() {
        let r = TemplateRegistry::default();
        r.register_all(vec![t("a", "x", "1.9.0"), t("a", "x", "1.10.0")])
            .unwrap();
        assert_eq!(&*r.find("x", None, None).unwrap().version, "1.10.0");
        assert_eq!(
            &*r.find("x", Some("a"), Some("1.9.0")).unwrap().version,
            "1.9.0"
        );
        let e = r.find("x", None, Some("2.0.0")).unwrap_err().to_string();
        assert!(e.contains("registered versions: 1.9.0, 1.10.0"), "{e}");
    }

    #[test]
    fn ambiguous_and_unknown_names_are_errors() {
        let r = TemplateRegistry::default();
        r.register_all(vec![t("a", "x", "1"), t("b", "x", "1")])
            .unwrap();
        assert!(r
            .find("x", None, None)
            .unwrap_err()
            .to_string()
            .contains("several namespaces"));
        assert!(r.find("x", Some("b"), None).is_ok());
        assert!(r
            .find("nope", None, None)
            .unwrap_err()
            .to_string()
            .contains("no such template"));
    }

    #[test]
    fn a_failing_template_registers_nothing() {
        let r = TemplateRegistry::default();
        let cyclic = TaskTemplate::from_yaml(
            "name: c\nstep_templates:\n - {name: a, handler_class: A, depends_on_step: b}\n - {name: b, handler_class: A, depends_on_step: a}",
            "c.yaml",
        )
        .unwrap();
        assert!(r.register_all(vec![t("a", "ok", "1"), cyclic]).is_err());
        assert!(r.keys().is_empty());
    }

    #[test]
    fn what_the_caller_said_about_hooks_counts_until_a_registration_or_forgetting() {
        let r = TemplateRegistry::default();
        let with_class = |name: &str| {
            TaskTemplate::from_yaml(
                &format!("name: {name}\ntask_handler_class: K\nstep_templates:\n - {{name: a, handler_class: A}}"),
                "k.yaml",
            )
            .unwrap()
        };
        r.register_all(vec![with_class("k"), t("x", "plain", "1")])
            .unwrap();
        let (k, plain) = (
            r.find("k", None, None).unwrap(),
            r.find("plain", None, None).unwrap(),
        );
        assert!(r.caller_hooks_absent(&plain), "no class: nothing to ask");
        assert!(!r.caller_hooks_absent(&k), "not said yet");

        let epoch = r.caller_hooks_epoch();
        r.set_caller_hooks_absent(&k, epoch);
        assert!(r.caller_hooks_absent(&k));
        r.forget_caller_hooks();
        assert!(!r.caller_hooks_absent(&k), "forgotten");

        let before_registration = r.caller_hooks_epoch();
        r.register_all(vec![with_class("other")]).unwrap();
        r.set_caller_hooks_absent(&k, before_registration);
        assert!(!r.caller_hooks_absent(&k), "said before a registration");
        r.set_caller_hooks_absent(&k, r.caller_hooks_epoch());
        assert!(r.caller_hooks_absent(&k));
        assert!(r.caller_hooks_absent(&plain));
    }
}
