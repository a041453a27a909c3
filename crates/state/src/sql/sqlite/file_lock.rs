//! [`FileLock`]: one process per SQLite file. An engine's store trusts its own cache of
//! history heads and counts ids in memory, so a second process orchestrating the same file
//! would corrupt nothing at once but would fail batches and leave tasks stuck. It is refused
//! at open instead, with the process that holds the file named.
//!
//! The lock is `flock` on a file beside the database (`<db>.tasker-core-lock`), never on the
//! database itself: SQLite locks byte ranges of its file with `fcntl`, and on NFS `flock` is
//! emulated with `fcntl`, where a whole-file lock would fight SQLite's own.
//!
//! Why `flock` and a registry:
//! - The kernel drops the lock when the holder dies (SIGKILL included), so a crashed
//!   engine's file opens again at once, no stale file to clean up.
//! - Several stores of one process share the lock (counted), as before: the refusal is about
//!   other processes.
//! - A `flock` is shared with a forked child (one open file description). The child must not
//!   count as holder: the registry remembers the pid that locked, a child finding its
//!   parent's entry forgets it (closing its copy of the descriptor releases nothing while the
//!   parent holds its own), and the last store to close unlocks explicitly, so a child still
//!   holding a copy cannot keep the file locked after the parent is done with it.
//! - The descriptor is close-on-exec (Rust's default), so a process the engine's process
//!   execs never holds it.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tasker_model::{TaskerError, TaskerResult};

/// This process's share of the lock on one SQLite file; released when dropped.
#[derive(Debug)]
pub(crate) struct FileLock {
    key: PathBuf,
}

struct Held {
    file: File,
    pid: u32,
    stores: usize,
}

fn registry() -> &'static Mutex<HashMap<PathBuf, Held>> {
    static HELD: OnceLock<Mutex<HashMap<PathBuf, Held>>> = OnceLock::new();
    HELD.get_or_init(|| Mutex::new(HashMap::new()))
}

impl FileLock {
    /// Takes the lock for the database file `database` (opened as `describe`), or fails
    /// naming the process that holds it.
    pub(crate) fn acquire(database: &Path, describe: &str) -> TaskerResult<FileLock> {
        let key = lock_path(database);
        let pid = std::process::id();
        let mut held = registry().lock();
        if let Some(entry) = held.get_mut(&key) {
            if entry.pid == pid {
                entry.stores += 1;
                return Ok(FileLock { key });
            }
            // Inherited through fork: the parent's lock, not ours.
            held.remove(&key);
        }
        let failed = |e: std::io::Error| {
            TaskerError::Database(format!(
                "opening {describe}: cannot open its lock file {}: {e}",
                key.display()
            ))
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&key)
            .map_err(failed)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let holder = if holder.is_empty() {
                    "another process".to_string()
                } else {
                    holder.to_string()
                };
                return Err(TaskerError::Database(format!(
                    "{describe} is in use by {holder}: a SQLite file serves one engine process \
                     (its lock is {}). Stop that process first, or use PostgreSQL to run \
                     several processes on one database",
                    key.display()
                )));
            }
            Err(TryLockError::Error(e)) => return Err(failed(e)),
        }
        // Who holds it, for the next process's error message.
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default();
        let since = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC");
        let _ = file.set_len(0).and_then(|()| {
            file.seek(SeekFrom::Start(0))?;
            write!(file, "pid {pid} on host {host} (since {since})")
        });
        held.insert(
            key.clone(),
            Held {
                file,
                pid,
                stores: 1,
            },
        );
        Ok(FileLock { key })
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let mut held = registry().lock();
        let Some(entry) = held.get_mut(&self.key) else {
            return;
        };
        if entry.pid != std::process::id() {
            // A forked child dropping a store it inherited: the lock is the parent's.
            return;
        }
        entry.stores -= 1;
        if entry.stores == 0 {
            if let Some(entry) = held.remove(&self.key) {
                // Explicitly: a forked child's copy of the descriptor would keep it locked.
                let _ = entry.file.unlock();
            }
        }
    }
}

/// `<database>.tasker-core-lock`, absolute with its directory resolved, so every spelling of
/// one file (relative, through a symlinked directory) finds the same registry entry.
fn lock_path(database: &Path) -> PathBuf {
    let absolute = std::path::absolute(database).unwrap_or_else(|_| database.to_path_buf());
    let dir = absolute
        .parent()
        .and_then(|d| d.canonicalize().ok())
        .or_else(|| absolute.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let mut name = absolute.file_name().unwrap_or_default().to_os_string();
    name.push(".tasker-core-lock");
    dir.join(name)
}
