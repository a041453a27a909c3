//! How an engine's store takes part in sharing one database's tasks with other engines'
//! processes ([`Sharing`]): its role, and the lease and heartbeat that tell a live process
//! from a dead one. Only the PostgreSQL store shares (`sql/postgres/claims.rs`); the
//! others serve one process and ignore it. It must not hold any mechanics of claiming.

use std::time::Duration;

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
