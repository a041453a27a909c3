//! Fork detection. Puma, Unicorn and Sidekiq preload an app and then `fork`: the child
//! inherits the engine's memory but none of its threads, so the inherited engine must never
//! be used there (a call would wait forever for actors that do not exist) nor shut down (its
//! threads cannot be joined). A `pthread_atfork` child handler counts forks; an engine
//! remembers the count it was born with and compares.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

static FORKS: AtomicU64 = AtomicU64::new(0);
static INSTALL: Once = Once::new();

extern "C" fn count_fork_in_child() {
    FORKS.fetch_add(1, Ordering::SeqCst);
}

/// Installs the fork counter (once per process) and returns the current count.
pub fn generation() -> u64 {
    INSTALL.call_once(|| {
        // SAFETY: registers a handler that only bumps an atomic, which is async-signal-safe
        // as a fork child handler must be.
        unsafe {
            libc::pthread_atfork(None, None, Some(count_fork_in_child));
        }
    });
    FORKS.load(Ordering::SeqCst)
}
