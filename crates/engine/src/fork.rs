//! Fork detection. Puma, Unicorn and Sidekiq preload an app and then `fork`: the child
//! inherits the engine's memory but none of its threads, so the inherited engine must never
//! be used there (a call would wait forever for actors that do not exist) nor shut down (its
//! threads cannot be joined). A `pthread_atfork` child handler counts forks; an engine
//! remembers the count it was born with and compares.
//!
//! [`ForkLocal`] is for what outlives the fork in the child's memory and is freed there by
//! someone else (Ruby's GC frees a forked worker's copies of the binding's objects): it is
//! leaked in the child, never dropped.

use std::mem::ManuallyDrop;
use std::ops::Deref;
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

/// A value that belongs to the process it was made in: dropped in a fork's child, it is
/// leaked instead of dropped.
///
/// Why: an engine's channels, locks and actor addresses are copied into the child mid-use,
/// with the parent's threads registered as their waiters, and those threads do not exist
/// there. Their destructors would act on that state: crossbeam's waker asserts (debug
/// builds) that no thread still waits on a channel being dropped, an actix address dropped
/// last wakes a task on a runtime that is not there, and a lock a parent thread held at the
/// fork stays held. Leaking costs nothing new: the child's copy of those pages is already
/// there, and not touching them keeps them shared with the parent.
#[derive(Debug)]
pub struct ForkLocal<T> {
    value: ManuallyDrop<T>,
    generation: u64,
}

impl<T> ForkLocal<T> {
    /// `value`, owned by this process (its current fork generation).
    pub fn new(value: T) -> ForkLocal<T> {
        ForkLocal {
            value: ManuallyDrop::new(value),
            generation: generation(),
        }
    }
}

impl<T> Deref for ForkLocal<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

/// A clone belongs where the original does: its state came from there.
impl<T: Clone> Clone for ForkLocal<T> {
    fn clone(&self) -> ForkLocal<T> {
        ForkLocal {
            value: self.value.clone(),
            generation: self.generation,
        }
    }
}

impl<T> Drop for ForkLocal<T> {
    fn drop(&mut self) {
        if generation() == self.generation {
            // SAFETY: `value` is dropped here only, once, and never used after.
            unsafe { ManuallyDrop::drop(&mut self.value) }
        }
    }
}
