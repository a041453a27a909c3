//! Pausing and resuming a namespace or a template: new steps of paused work wait in the
//! dispatch gate ([`crate::gate`]); steps already running finish.
//!
//! Each call sends one message to the orchestrator and waits for its answer (what is
//! paused afterwards); it must not hold or release steps itself.

use super::wait::await_reply;
use super::Engine;
use crate::gate::PauseKey;
use crate::orchestrator::SetPaused;
use crossbeam_channel::bounded;
use std::time::Duration;
use tasker_model::{TaskerError, TaskerResult};

impl Engine {
    /// Pauses `key` (a namespace, or a template in one): from now on its steps wait until
    /// resumed; steps queued for workers and not yet taken go back to waiting. Returns what
    /// is paused. A namespace or template the registry does not know is refused.
    pub fn pause(&self, key: PauseKey, timeout: Duration) -> TaskerResult<Vec<PauseKey>> {
        self.check_pause_key(&key)?;
        self.set_paused(Some((key, true)), timeout)
    }

    /// Resumes `key`: its waiting steps go out (by priority). Returns what is still paused.
    pub fn resume(&self, key: PauseKey, timeout: Duration) -> TaskerResult<Vec<PauseKey>> {
        self.set_paused(Some((key, false)), timeout)
    }

    /// What is paused now.
    pub fn paused(&self, timeout: Duration) -> TaskerResult<Vec<PauseKey>> {
        self.set_paused(None, timeout)
    }

    fn set_paused(
        &self,
        change: Option<(PauseKey, bool)>,
        timeout: Duration,
    ) -> TaskerResult<Vec<PauseKey>> {
        let (tx, rx) = bounded(1);
        self.send_if_running(SetPaused { change, reply: tx })?;
        await_reply(&rx, timeout, "pause")
    }

    /// A pause must name something registered, so a typo does not pause nothing silently.
    fn check_pause_key(&self, key: &PauseKey) -> TaskerResult<()> {
        let known = self.registry.keys().into_iter().any(|k| {
            k.namespace == key.namespace && key.template.as_ref().is_none_or(|t| *t == k.name)
        });
        if known {
            return Ok(());
        }
        let what = match &key.template {
            Some(t) => format!("template {t} in namespace {}", key.namespace),
            None => format!("namespace {}", key.namespace),
        };
        Err(TaskerError::validation(
            format!("pause {what}"),
            "no registered template has it (register the templates first)",
        ))
    }
}
