//! Pausing and resuming a namespace or a template: new steps of paused work wait in the
//! dispatch gate ([`crate::gate`]); steps already running finish. And sizing a pool's
//! queue in the gate to what its workers take at once.
//!
//! Each call sends one message to the orchestrator and waits for its answer (what is
//! paused afterwards); it must not hold or release steps itself. On a store several
//! processes share (PostgreSQL) a pause is written there first, for every process (their
//! claim loops read it before each claim: `claiming.rs`), and what is paused is read from there: it
//! outlives the process that set it, being an operator's decision.

use super::wait::await_reply;
use super::Engine;
use crate::gate::{pool_depth, PauseKey};
use crate::orchestrator::{SetPaused, SizePool};
use crossbeam_channel::bounded;
use std::time::Duration;
use tasker_model::{Execution, TaskerError, TaskerResult};
use tasker_state::Store;

impl Engine {
    /// Pauses `key` (a namespace, or a template in one): from now on its steps wait until
    /// resumed; steps queued for workers and not yet taken go back to waiting. Returns what
    /// is paused. A namespace or template the registry does not know is refused.
    pub fn pause(&self, key: PauseKey, timeout: Duration) -> TaskerResult<Vec<PauseKey>> {
        self.check_pause_key(&key)?;
        self.store
            .share_pause(&key.namespace, key.template.as_deref(), true)?;
        self.set_paused(Some((key, true)), timeout)
    }

    /// Resumes `key`: its waiting steps go out (by priority). Returns what is still paused.
    pub fn resume(&self, key: PauseKey, timeout: Duration) -> TaskerResult<Vec<PauseKey>> {
        self.store
            .share_pause(&key.namespace, key.template.as_deref(), false)?;
        self.set_paused(Some((key, false)), timeout)
    }

    /// What is paused now.
    pub fn paused(&self, timeout: Duration) -> TaskerResult<Vec<PauseKey>> {
        self.set_paused(None, timeout)
    }

    /// A pool of `workers` taking up to `batch` steps at a time now runs `executor`'s steps:
    /// its queue is kept [`pool_depth`] deep from now on, so an urgent step waits behind
    /// at most that many queued ones (steps queued beyond it go back to wait by priority).
    /// Returns the depth.
    pub fn size_pool(
        &self,
        executor: Execution,
        workers: usize,
        batch: usize,
        timeout: Duration,
    ) -> TaskerResult<usize> {
        let (tx, rx) = bounded(1);
        self.send_if_running(SizePool {
            pool: executor.index(),
            depth: pool_depth(workers, batch),
            reply: tx,
        })?;
        await_reply(&rx, timeout, "size pool")
    }

    /// Changes this engine's pauses by `change`, then, on a shared store, takes every
    /// process's (so the answer is what the whole database has paused). The read and its
    /// hand-over go one at a time with the other reads of this engine (`pause_reads.rs`).
    fn set_paused(
        &self,
        change: Option<(PauseKey, bool)>,
        timeout: Duration,
    ) -> TaskerResult<Vec<PauseKey>> {
        let answer = self.pause_reads.follow(
            false,
            || shared_pauses(self.store.as_ref()),
            |all| {
                let (tx, rx) = bounded(1);
                self.send_if_running(SetPaused {
                    change,
                    all,
                    reply: tx,
                })?;
                await_reply(&rx, timeout, "pause")
            },
        )?;
        Ok(answer.unwrap_or_default())
    }

    /// Takes on the pauses the store shares with other processes (none on a store that
    /// shares none: nothing is sent).
    pub(super) fn follow_shared_pauses(&self, timeout: Duration) -> TaskerResult<()> {
        self.pause_reads
            .follow(
                true,
                || shared_pauses(self.store.as_ref()),
                |all| {
                    let (tx, rx) = bounded(1);
                    self.send_if_running(SetPaused {
                        change: None,
                        all,
                        reply: tx,
                    })?;
                    await_reply(&rx, timeout, "following the shared pauses")
                },
            )
            .map(drop)
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

/// The pauses `store` shares with other processes, as keys (`None`: it shares none).
pub(crate) fn shared_pauses(store: &dyn Store) -> TaskerResult<Option<Vec<PauseKey>>> {
    Ok(store.shared_pauses()?.map(|all| {
        all.into_iter()
            .map(|(namespace, template)| PauseKey {
                namespace,
                template,
            })
            .collect()
    }))
}
