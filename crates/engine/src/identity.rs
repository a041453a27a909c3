//! Idempotent submission: Tasker's identity strategies, the `tasker_tasks.identity_hash`
//! they give a task, and the gate that lets one submission per identity through at a time
//! within this process.
//!
//! - `default`: a hash of the template (namespace, name, version), the context (keys in
//!   sorted order, so two Hashes with the same pairs agree) and initiator, source_system and
//!   reason.
//! - `caller_provided`: a hash of the template and the caller's key (an idempotency key, a
//!   job id).
//! - `always_unique`: no identity; every submission is a new task (the plain submit).
//!
//! With a window, the hash also takes the window's number (`now / window`, a tumbling
//! window): the same submission in the next window is a new task. The unique index on
//! `identity_hash` keeps one task per hash across processes; the gate keeps threads of one
//! engine from racing to the store.

use parking_lot::{Condvar, Mutex};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tasker_model::{TaskId, TaskerError, TaskerResult, TemplateKey};

/// How a submission's identity is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityStrategy {
    Default,
    CallerProvided,
    AlwaysUnique,
}

/// A submission's identity: a strategy, the caller's key for `caller_provided`, a window.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub strategy: IdentityStrategy,
    pub key: Option<String>,
    pub window: Option<Duration>,
}

impl Identity {
    /// Reads a strategy by name; an unknown name, a `caller_provided` without a key (or a
    /// key on another strategy) or a window that is not a positive number of seconds is a
    /// validation error naming it, before anything is submitted.
    pub fn parse(
        strategy: &str,
        key: Option<String>,
        window: Option<f64>,
    ) -> TaskerResult<Identity> {
        let strategy = match strategy {
            "default" => IdentityStrategy::Default,
            "caller_provided" => IdentityStrategy::CallerProvided,
            "always_unique" => IdentityStrategy::AlwaysUnique,
            other => {
                return Err(TaskerError::validation(
                    format!("identity strategy {other:?}"),
                    "is not one of default, caller_provided, always_unique",
                ))
            }
        };
        match (&strategy, &key) {
            (IdentityStrategy::CallerProvided, None) => {
                return Err(TaskerError::validation(
                    "identity strategy caller_provided",
                    "needs a key (identity: { strategy: :caller_provided, key: \"...\" })",
                ))
            }
            (IdentityStrategy::CallerProvided, Some(k)) if k.is_empty() => {
                return Err(TaskerError::validation("identity key", "must not be empty"))
            }
            (IdentityStrategy::Default | IdentityStrategy::AlwaysUnique, Some(_)) => {
                return Err(TaskerError::validation(
                    "identity key",
                    "is only read by the caller_provided strategy",
                ))
            }
            _ => {}
        }
        let window = match window {
            None => None,
            Some(w) if w.is_finite() && w >= 1.0 => Some(Duration::from_secs_f64(w)),
            Some(w) => {
                return Err(TaskerError::validation(
                    "identity window",
                    format!("must be at least 1 second, got {w}"),
                ))
            }
        };
        Ok(Identity {
            strategy,
            key,
            window,
        })
    }

    /// The identity_hash of a submission of `template` (64 hex digits), or `None` for
    /// `always_unique`.
    pub fn hash(
        &self,
        template: &TemplateKey,
        context: &Json,
        labels: [Option<&str>; 3],
        now: SystemTime,
    ) -> Option<String> {
        let mut h = Sha256::new();
        let mut part = |bytes: &[u8]| {
            // Length-prefixed, so no two different inputs concatenate alike.
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        part(template.namespace.as_bytes());
        part(template.name.as_bytes());
        part(template.version.as_bytes());
        match self.strategy {
            IdentityStrategy::AlwaysUnique => return None,
            IdentityStrategy::CallerProvided => {
                part(b"caller_provided");
                part(self.key.as_deref().unwrap_or_default().as_bytes());
            }
            IdentityStrategy::Default => {
                part(b"default");
                let mut text = String::new();
                canonical(context, &mut text);
                part(text.as_bytes());
                for label in labels {
                    part(label.map_or(b"\0".as_slice(), str::as_bytes));
                }
            }
        }
        if let Some(window) = self.window {
            let secs = now
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64();
            part(&((secs / window.as_secs_f64()).floor() as u64).to_le_bytes());
        }
        Some(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// `value` as JSON text with every object's keys sorted, whatever order the map keeps.
fn canonical(value: &Json, out: &mut String) {
    match value {
        Json::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Json::String(k.clone()).to_string());
                out.push(':');
                canonical(&map[k], out);
            }
            out.push('}');
        }
        Json::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// An identity being submitted in this process: the first submitter settles it; the
/// others wait for its answer.
#[derive(Default)]
pub(crate) struct Pending {
    answer: Mutex<Option<Result<TaskId, TaskerError>>>,
    settled: Condvar,
}

impl Pending {
    /// The task the first submitter stored (or found), waiting up to `timeout`.
    pub(crate) fn wait(&self, timeout: Duration) -> TaskerResult<TaskId> {
        let deadline = Instant::now() + timeout;
        let mut answer = self.answer.lock();
        while answer.is_none() {
            if self.settled.wait_until(&mut answer, deadline).timed_out() && answer.is_none() {
                return Err(TaskerError::Timeout(format!(
                    "waiting {timeout:?} for another submission of the same identity to be committed"
                )));
            }
        }
        answer.clone().expect("settled")
    }
}

/// The identities being submitted in this process right now.
#[derive(Default)]
pub(crate) struct IdentityGate {
    pending: Mutex<HashMap<String, Arc<Pending>>>,
}

/// Who holds an identity: this caller (it must [`IdentityGate::settle`] it) or another.
pub(crate) enum Entry {
    First(Arc<Pending>),
    Waiting(Arc<Pending>),
}

impl IdentityGate {
    /// Enters `hash`: the first caller submits, later ones wait for it.
    pub(crate) fn enter(&self, hash: &str) -> Entry {
        let mut pending = self.pending.lock();
        if let Some(p) = pending.get(hash) {
            return Entry::Waiting(p.clone());
        }
        let p = Arc::new(Pending::default());
        pending.insert(hash.to_string(), p.clone());
        Entry::First(p)
    }

    /// Answers the waiters and lets `hash` go: from now on the store answers for it.
    pub(crate) fn settle(&self, hash: &str, p: &Pending, answer: &TaskerResult<TaskId>) {
        *p.answer.lock() = Some(answer.clone());
        p.settled.notify_all();
        self.pending.lock().remove(hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> TemplateKey {
        TemplateKey {
            namespace: "shop".into(),
            name: "order".into(),
            version: "1.0.0".into(),
        }
    }

    #[test]
    fn default_hash_ignores_key_order_and_reads_labels() {
        let id = Identity::parse("default", None, None).unwrap();
        let now = SystemTime::now();
        let a = id.hash(
            &key(),
            &json!({"a": 1, "b": {"x": 1, "y": 2}}),
            [None; 3],
            now,
        );
        let b = id.hash(
            &key(),
            &json!({"b": {"y": 2, "x": 1}, "a": 1}),
            [None; 3],
            now,
        );
        assert_eq!(a, b);
        assert_eq!(a.as_ref().map(String::len), Some(64));
        let c = id.hash(
            &key(),
            &json!({"a": 1, "b": {"x": 1, "y": 2}}),
            [Some("me"), None, None],
            now,
        );
        assert_ne!(a, c);
    }

    #[test]
    fn window_separates_windows_and_unique_has_no_hash() {
        let id = Identity::parse("caller_provided", Some("k".into()), Some(60.0)).unwrap();
        let t0 = UNIX_EPOCH + Duration::from_secs(6000);
        let same = id.hash(&key(), &json!({}), [None; 3], t0 + Duration::from_secs(59));
        assert_eq!(id.hash(&key(), &json!({}), [None; 3], t0), same);
        assert_ne!(
            id.hash(&key(), &json!({}), [None; 3], t0 + Duration::from_secs(60)),
            same
        );
        let unique = Identity::parse("always_unique", None, None).unwrap();
        assert_eq!(unique.hash(&key(), &json!({}), [None; 3], t0), None);
    }

    #[test]
    fn bad_identities_are_named() {
        let e = Identity::parse("sometimes", None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"sometimes\""), "{e}");
        let e = Identity::parse("caller_provided", None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs a key"), "{e}");
        let e = Identity::parse("default", None, Some(0.0))
            .unwrap_err()
            .to_string();
        assert!(e.contains("window"), "{e}");
    }
}
