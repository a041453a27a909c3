//! Pause and resume on `TaskerCore::Native::Engine`: `pause(namespace, template, timeout)`,
//! `resume(namespace, template, timeout)`, `paused(timeout)`, each answering what is
//! paused as `[[namespace, template or nil], …]`; and `size_pool(execution, workers,
//! batch, timeout)`, a pool telling the gate how much it takes at once. Conversions only:
//! what a pause holds, and how deep a queue is kept, is the engine's dispatch gate's
//! (`tasker_engine::gate`).

use super::arguments::{execution as parse_execution, opt_string};
use super::Engine;
use crate::helpers::convert::to_seconds;
use crate::helpers::errors::{guard, invalid};
use magnus::{Error, Value};
use tasker_engine::gate::PauseKey;

type Paused = Vec<(String, Option<String>)>;

fn key(namespace: Value, template: Value) -> Result<PauseKey, Error> {
    let namespace = opt_string(namespace, "pause namespace")?
        .ok_or_else(|| invalid("pause namespace", "is required (a String)"))?;
    Ok(PauseKey {
        namespace,
        template: opt_string(template, "pause template")?,
    })
}

fn listed(keys: Vec<PauseKey>) -> Paused {
    keys.into_iter()
        .map(|k| (k.namespace, k.template))
        .collect()
}

impl Engine {
    /// `pause` (`RESUME` false) and `resume` (true) of the key `namespace`/`template`: what
    /// is paused after.
    pub(super) fn change_pause<const RESUME: bool>(
        &self,
        namespace: Value,
        template: Value,
        timeout: Value,
    ) -> Result<Paused, Error> {
        let what = if RESUME { "resume" } else { "pause" };
        guard(|| {
            let (key, timeout) = (key(namespace, template)?, to_seconds(timeout, "timeout")?);
            self.off_gvl(what, |engine| {
                let paused = if RESUME {
                    engine.resume(key, timeout)
                } else {
                    engine.pause(key, timeout)
                };
                paused.map(listed)
            })
        })
    }

    pub(super) fn paused(&self, timeout: Value) -> Result<Paused, Error> {
        guard(|| {
            let timeout = to_seconds(timeout, "timeout")?;
            self.off_gvl("paused", |engine| engine.paused(timeout).map(listed))
        })
    }

    /// A pool of `workers` taking `batch` steps at a time runs `execution` ("thread" or
    /// "ractor") steps from now on; returns the queue depth the gate keeps for it.
    pub(super) fn size_pool(
        &self,
        execution: String,
        workers: usize,
        batch: usize,
        timeout: Value,
    ) -> Result<usize, Error> {
        guard(|| {
            let executor = parse_execution(&execution, "size_pool execution", "")?;
            let timeout = to_seconds(timeout, "timeout")?;
            self.off_gvl("size_pool", |engine| {
                engine.size_pool(executor, workers, batch, timeout)
            })
        })
    }
}
