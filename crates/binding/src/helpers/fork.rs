//! What a forked child must forget before it starts threads of its own: parking_lot's table
//! of parked threads (`vendor/parking_lot_core/PATCHED.md`). Puma, Unicorn and
//! Sidekiq fork a process whose engine is running, and the child starts an engine of its own
//! (`TaskerCore.after_fork`). Must not do anything else: a fork handler runs in a process
//! with one thread and must be async-signal-safe.

use std::sync::Once;

/// Registers the child handler once per process (the extension's `init`).
pub(crate) fn install() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        // SAFETY: registers a handler that only stores to one atomic; pthread_atfork copies
        // the function pointers, which live as long as the extension (never unloaded).
        let failed = unsafe { libc::pthread_atfork(None, None, Some(forget_parked_threads)) };
        if failed != 0 {
            eprintln!(
                "tasker-core: cannot register the fork handler (pthread_atfork: {failed}); an engine started in a forked child may crash"
            );
        }
    });
}

/// In the child, before any thread of it exists: the parent's parked threads are not here.
extern "C" fn forget_parked_threads() {
    // SAFETY: runs in the child right after fork, when only the forking thread exists.
    unsafe { parking_lot_core::reset_after_fork() }
}
