//! How an engine's store takes part in sharing one database's tasks with other engines'
//! processes ([`Sharing`]): its role, and the lease and heartbeat that tell a live process
//! from a dead one. Only the PostgreSQL store shares (`sql/postgres/claims.rs`); the
//! others serve one process and ignore it. It must not hold any mechanics of claiming.

use serde::Serialize;
use std::time::Duration;
use tasker_model::Timestamp;

/// How a store takes part in sharing tasks with other engines.
#[derive(Debug, Clone)]
pub struct Sharing {
    /// `worker` (runs handlers and claims tasks) or `client` (submits only: the tasks it
    /// creates are left unclaimed, for workers).
    pub role: Role,
    /// A process whose heartbeat is older than this is dead.
    pub lease_timeout: Duration,
    /// How often the store refreshes its heartbeat.
    pub heartbeat_interval: Duration,
}

/// What an engine's process does with the tasks of a shared database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Orchestrates the tasks it submits and claims others' when it has capacity.
    Worker,
    /// Submits only: its tasks are stored unclaimed and workers are woken for them.
    Client,
}

impl Role {
    /// The role's name, as stored in `tasker_core_processes.role`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Worker => "worker",
            Role::Client => "client",
        }
    }
}

impl Default for Sharing {
    fn default() -> Self {
        Sharing {
            role: Role::Worker,
            lease_timeout: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(5),
        }
    }
}

/// One engine's process as the process table shows it (`Store::processes`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessInfo {
    pub id: i32,
    pub hostname: String,
    pub pid: i32,
    /// `worker` or `client`.
    pub role: String,
    pub started_at: Timestamp,
    /// Seconds since its last heartbeat, by the database's clock.
    pub heartbeat_age_seconds: f64,
    /// Whether its heartbeat is younger than the lease timeout of the store asking and, on
    /// the asking store's host, its pid still exists: whether its tasks are safe from claims.
    pub alive: bool,
    /// Handler slots (threads and Ractors).
    pub capacity: i32,
    /// Steps it had handed out at its last heartbeat.
    pub steps_in_flight: i32,
    /// Unfinished tasks it holds.
    pub claimed_tasks: i64,
    /// tasker-core's version in that process.
    pub version: String,
}
