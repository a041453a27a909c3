//! This process as its host sees it (hostname, pid, pid namespace and boot), and whether
//! another process of the same host still runs: how a store tells at once that an engine
//! on its own host is gone, instead of waiting out its lease (`claims.rs`). Linux only
//! (`/proc`); elsewhere only leases tell. Must not touch the database.

/// This process as the host sees it, for telling at once that a process on the same host
/// is gone.
pub(super) struct Here {
    pub(super) hostname: String,
    pub(super) pid: i32,
    /// The pid namespace and boot this process's pid is valid in (`None` where /proc does
    /// not say: then only leases tell).
    pub(super) pid_namespace: Option<String>,
}

impl Here {
    pub(super) fn find() -> Here {
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .ok()
                .map(|s| s.trim().to_string())
        };
        let hostname = read("/proc/sys/kernel/hostname")
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "unknown".into());
        let ns = std::fs::read_link("/proc/self/ns/pid")
            .ok()
            .map(|p| p.display().to_string());
        let boot = read("/proc/sys/kernel/random/boot_id");
        Here {
            hostname,
            pid: std::process::id() as i32,
            pid_namespace: ns.zip(boot).map(|(ns, boot)| format!("{ns} {boot}")),
        }
    }

    /// Whether process `pid` of this host's namespace still runs: it exists and is not a
    /// zombie (killed, not yet reaped by its parent: it will never write again).
    pub(super) fn alive(pid: i32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // "pid (comm) state …"; comm may hold spaces and parentheses, state follows the
            // last ')'.
            Ok(stat) => !matches!(
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.trim_start().chars().next()),
                Some('Z' | 'X')
            ),
            Err(_) => false,
        }
    }
}
