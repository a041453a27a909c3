//! The signal that wakes threads waiting for tasks to finish. The state actor notifies it
//! once a batch that finished a task is committed; it must not carry which task (waiters
//! read that from the engine or the store).

use parking_lot::{Condvar, Mutex};
use std::time::Duration;

/// Wakes threads waiting for tasks to finish. Notified after the batch that finished a task
/// is committed, so a woken waiter reads the final state from the store.
#[derive(Default)]
pub struct TaskFinishedSignal {
    generation: Mutex<u64>,
    changed: Condvar,
}

impl TaskFinishedSignal {
    /// Wakes every waiter.
    pub fn notify(&self) {
        *self.generation.lock() += 1;
        self.changed.notify_all();
    }

    /// The current generation; pass it to [`TaskFinishedSignal::wait_past`].
    pub fn generation(&self) -> u64 {
        *self.generation.lock()
    }

    /// Waits until the generation moves past `seen` or `timeout` passes.
    pub fn wait_past(&self, seen: u64, timeout: Duration) {
        let mut g = self.generation.lock();
        if *g == seen {
            self.changed.wait_for(&mut g, timeout);
        }
    }
}
