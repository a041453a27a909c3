//! Stopping an engine, and closing its store.
//!
//! # The shutdown protocol
//! [`Engine::stop`]: the claiming thread (if any) stops, the orchestrator stops dispatching, hands back every step still queued
//! (it returns to pending, `in_process` cleared), marks steps that a worker started but did
//! not finish as `error` with reason `engine_stopped` (so they run again, at least once),
//! gives its last changes to the state actor, and answers. The handle then flushes the
//! state actor, stops the System, and joins every thread it started. Each wait is bounded by
//! the caller's timeout.
//!
//! Reports take the `stopping` lock shared and `stop` takes it exclusively, so no report can
//! slip into the orchestrator's mailbox after the shutdown message. An engine inherited
//! across a fork is left alone (its threads are not in this process, see `crate::fork`).
//!
//! This file must not start anything, nor hand out work.

use super::wait::await_reply;
use super::Engine;
use crate::orchestrator::Shutdown;
use crossbeam_channel::bounded;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tasker_model::{TaskerError, TaskerResult};
use tasker_state::{Flush, MemoryStore};

impl Engine {
    /// Whether `stop` has begun.
    pub fn is_stopped(&self) -> bool {
        *self.stopping.read()
    }

    /// Stops the engine by the shutdown protocol (see the module documentation). Returns how
    /// many steps were handed back. Calling it again returns 0.
    pub fn stop(&self, timeout: Duration) -> TaskerResult<usize> {
        if self.forked() {
            // The parent's engine: its threads are not in this process. Leave it be.
            return Ok(0);
        }
        {
            let mut stopping = self.stopping.write();
            if *stopping {
                return Ok(0);
            }
            *stopping = true;
        }
        drop(self.stop_sender.lock().take());
        // No task claimed from now on; one being resumed is resumed before the shutdown
        // message, so its steps are handed back with the rest.
        self.stop_claiming();
        self.stop_retention();
        self.stop_schedules();
        let deadline = Instant::now() + timeout;
        let remaining = || deadline.saturating_duration_since(Instant::now());
        let mut result = Ok(0);
        if self.orchestrator.connected() {
            let (tx, rx) = bounded(1);
            self.orchestrator.do_send(Shutdown(tx));
            result = await_reply(&rx, remaining(), "stop (take back steps)");
            let (tx, rx) = bounded(1);
            self.state.do_send(Flush { reply: tx });
            if let Err(e) = await_reply(&rx, remaining(), "stop (flush store)").and_then(|r| r) {
                result = Err(e);
            }
        }
        if let Some(running) = self.running.lock().take() {
            running.system.stop();
            if running.thread.join().is_err() {
                result = Err(TaskerError::Orchestration(
                    "the engine thread panicked".into(),
                ));
            }
        }
        // No task finishes here any more; what was kept of finished ones stays true.
        self.outcomes.stopped();
        self.finished.notify();
        result
    }

    /// Stops the engine (if running) and closes its store, releasing database connections
    /// and claims. After `stop` alone the store stays open so the engine's tasks can still
    /// be read; after `close` reads fail.
    pub fn close(&self, timeout: Duration) -> TaskerResult<usize> {
        if self.forked() {
            // Inherited across a fork: the store's threads are not in this process, so it
            // cannot be shut down here (see `Drop`).
            return Ok(0);
        }
        let taken_back = self.stop(timeout);
        self.store.close();
        release_freed_memory();
        taken_back
    }
}

/// Hands the C heap's free pages back to the system (glibc's `malloc_trim`), once the
/// engine's threads are joined and its store closed.
///
/// Why (issue 23): the engine's C allocations — SQLite's page caches above all, which hold
/// up to the whole database file per connection after the start-up health count — are made
/// on the store's connection threads, and glibc gives each new thread an arena of its own
/// (up to eight per core). Freed when the connection closes, those pages stayed resident in
/// the arenas: an app that started and closed an engine 200 times on a 600 kB SQLite file
/// kept about 600 kB in each of ten arenas. `malloc_trim(0)` releases every whole free page
/// in every arena (not just the top of the main heap): measured, it halved what those arenas
/// kept. It costs a walk of the arenas (40-140 µs measured after 30 cycles), on a path that
/// is already joining threads.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the system; it is thread-safe (it
    // takes each arena's lock) and touches no allocation in use.
    unsafe {
        libc::malloc_trim(0);
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if self.forked() {
            // Inherited across a fork: the System thread and the store's threads do not
            // exist here, so neither can be joined or shut down. Leak them. (The rest is
            // dropped; holders a forked child frees, the binding's Ruby objects, hold the
            // engine in a `ForkLocal`, which leaks all of it.)
            std::mem::forget(self.running.lock().take());
            let store = std::mem::replace(&mut self.store, Arc::new(MemoryStore::new()));
            std::mem::forget(store);
            return;
        }
        let _ = self.stop(Duration::from_secs(5));
    }
}
