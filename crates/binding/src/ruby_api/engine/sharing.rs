//! Sharing one PostgreSQL database's tasks with other processes' engines: the options
//! `Native::Engine.new` reads for it (role, lease, heartbeat) and `start_claiming`.
//! Must not decide who gets which task: the store's claims and the engine's claiming
//! thread do.

use super::{opt, Engine};
use crate::helpers::convert::to_seconds;
use crate::helpers::errors::{guard, invalid};
use magnus::{prelude::*, Error, RHash, Ruby, Value};
use std::time::Duration;
use tasker_engine::engine::ClaimSettings;
use tasker_state::{Role, Sharing};

/// Seconds under `key` in `options`, when given.
fn seconds(ruby: &Ruby, options: RHash, key: &str) -> Result<Option<Duration>, Error> {
    match options.get(ruby.to_symbol(key)) {
        Some(v) if !v.is_nil() => to_seconds(v, &format!("option {key}")).map(Some),
        _ => Ok(None),
    }
}

/// The store's [`Sharing`] from `Native::Engine.new`'s options `role` ("worker" or
/// "client"), `lease_timeout` and `heartbeat_interval` (seconds; the heartbeat must be
/// shorter than the lease).
pub(super) fn sharing(ruby: &Ruby, options: RHash) -> Result<Sharing, Error> {
    let mut sharing = Sharing::default();
    match opt::<String>(ruby, options, "role")?.as_deref() {
        None | Some("worker") => {}
        Some("client") => sharing.role = Role::Client,
        Some(other) => {
            return Err(invalid(
                "option role",
                format!("expected worker or client, got {other:?}"),
            ))
        }
    }
    if let Some(lease) = seconds(ruby, options, "lease_timeout")? {
        sharing.lease_timeout = lease;
    }
    if let Some(beat) = seconds(ruby, options, "heartbeat_interval")? {
        sharing.heartbeat_interval = beat;
    }
    if sharing.heartbeat_interval.is_zero() || sharing.heartbeat_interval >= sharing.lease_timeout {
        return Err(invalid(
            "option heartbeat_interval",
            format!(
                "must be above 0 and below lease_timeout ({} s), got {} s",
                sharing.lease_timeout.as_secs_f64(),
                sharing.heartbeat_interval.as_secs_f64()
            ),
        ));
    }
    Ok(sharing)
}

impl Engine {
    /// `start_claiming(interval, max_tasks)`: starts taking work from a shared store (see
    /// `Engine::start_claiming`); false when the store serves this process only. With
    /// `max_tasks` 0 it claims nothing and only takes on other processes' pauses.
    pub(super) fn start_claiming(&self, interval: Value, max_tasks: usize) -> Result<bool, Error> {
        guard(|| {
            let interval = to_seconds(interval, "claim_interval")?;
            if interval.is_zero() {
                return Err(invalid("claim_interval", "must be above 0 seconds"));
            }
            // Off the GVL: it reads the shared pauses before it returns (a database round trip
            // and a wait on the orchestrator), and other Ruby threads must not stall on it.
            self.off_gvl("start_claiming", |engine| {
                engine.start_claiming(ClaimSettings {
                    interval,
                    max_tasks,
                })
            })
        })
    }
}

impl Engine {
    /// `stop_claiming`: stops taking work from a shared store (the first step of a
    /// graceful stop, so nothing is claimed while the pools drain). Waits, with the GVL
    /// released, for a claim in progress to finish.
    pub(super) fn stop_claiming(&self) -> Result<(), Error> {
        guard(|| {
            self.off_gvl("stop_claiming", |engine| {
                engine.stop_claiming();
                Ok(())
            })
        })
    }
}
