//! [`Background`]: a thread an engine runs beside its actors (retention, schedules): started
//! at most once, told to stop by closing its channel, and joined when it stops. Owns that
//! protocol only; what the thread does, and what it counts, belong to the file that starts
//! it.

use crossbeam_channel::{bounded, Receiver, Sender};
use parking_lot::Mutex;
use std::thread::JoinHandle;
use tasker_model::{TaskerError, TaskerResult};

/// See the module documentation.
#[derive(Default)]
pub(crate) struct Background(Mutex<Option<(Sender<()>, JoinHandle<()>)>>);

impl Background {
    /// Starts the thread `tasker-{what}` running `work`, whose receiver disconnects at
    /// [`Background::stop`]. Refused (nothing run) when it runs already or `engine_stopped`
    /// says the engine stopped. `prepare` runs once those checks pass and before the thread
    /// starts (what the thread reads must be in place), with the start/stop lock held; the
    /// closure it returns runs only if the thread then cannot be spawned (a refused start
    /// must not touch what a running thread reports).
    pub(crate) fn start<U: FnOnce()>(
        &self,
        what: &str,
        engine_stopped: impl FnOnce() -> bool,
        prepare: impl FnOnce() -> U,
        work: impl FnOnce(Receiver<()>) + Send + 'static,
    ) -> TaskerResult<()> {
        let mut thread = self.0.lock();
        if thread.is_some() {
            return Err(TaskerError::Orchestration(format!(
                "this engine already runs {what}"
            )));
        }
        if engine_stopped() {
            return Err(TaskerError::Orchestration("the engine is stopped".into()));
        }
        let undo = prepare();
        let (stop, stopped) = bounded::<()>(0);
        let handle = std::thread::Builder::new()
            .name(format!("tasker-{what}"))
            .spawn(move || work(stopped))
            .map_err(|e| {
                undo();
                TaskerError::Orchestration(format!("cannot spawn the {what} thread: {e}"))
            })?;
        *thread = Some((stop, handle));
        Ok(())
    }

    /// Tells the thread, if any, to stop and waits for it, unless it is the caller (a thread
    /// may drop the engine's last handle, and so stop it: it must not wait for itself).
    /// Returns whether a thread ran.
    pub(crate) fn stop(&self) -> bool {
        let Some((stop, handle)) = self.0.lock().take() else {
            return false;
        };
        drop(stop);
        if handle.thread().id() != std::thread::current().id() {
            let _ = handle.join();
        }
        true
    }
}
