//! The tokio runtime a SQL store owns.
//!
//! Why a runtime of its own: the store is called from three kinds of threads — the state
//! actor (an actix System, itself a tokio current-thread runtime), Ruby threads, and the
//! engine's start-up — and sqlx needs a tokio reactor for its sockets. Owning one small
//! runtime makes every call independent of the caller's executor:
//! - a commit is spawned here and the caller awaits only the `JoinHandle`, which any executor
//!   can poll;
//! - blocking reads `block_on` here, from threads outside any runtime.
//!
//! Shutdown protocol. `close` (the store's, after the engine's last flush) runs the store's
//! closing future (close the pool and the lock connection, so PostgreSQL releases session
//! locks at once) for at most [`CLOSE_TIMEOUT`], then stops the runtime: its worker and
//! blocking threads are JOINED before `close` returns (bounded by [`JOIN_LIMIT`]). The store's
//! `Drop` does the same if `close` did not. Stopping happens on a helper thread that the
//! caller joins: that thread is outside any runtime, so the store may be closed or dropped
//! anywhere, including on an actor's thread, without tokio's "cannot drop a runtime in an
//! async context" panic.
//!
//! Why at `close` and not only at `Drop` (issue 23): a Ruby engine object is freed whenever
//! Ruby's GC gets to it, so a program that starts and closes engines in a loop kept every
//! closed store's threads (and their stacks and allocator arenas) alive until then, and a
//! process forked meanwhile inherited parking_lot wait queues naming those parked threads,
//! which do not exist in the child (a SIGSEGV in `parking_lot::park` during a child's
//! `Engine#close`). After `close` no thread of the store is left.
//!
//! After the runtime has stopped, the store's calls still answer: a blocking call runs on a
//! current-thread runtime of its own on the caller's thread (the pool is closed, so it fails
//! at once with a "closed" error), a commit fails, and background work is dropped.

use crate::store::Commit;
use parking_lot::RwLock;
use std::future::Future;
use std::time::Duration;
use tasker_model::{TaskerError, TaskerResult};
use tokio::runtime::{Builder, Handle, Runtime};

/// How long closing (and `Drop`) lets the store close its connections. Short on purpose: it
/// runs after the engine's last flush, so nothing of the engine's is left to write, and a
/// pool connection that is not back by then (on PostgreSQL one sometimes is not, at process
/// exit) must not hold up a process that is stopping.
pub(crate) const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long stopping then waits for the runtime's remaining work.
pub(crate) const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);
/// The most stopping waits for both, even if the runtime cannot run its timers, and the
/// most `close` waits for calls still running on the runtime to let go of it.
const JOIN_LIMIT: Duration = Duration::from_secs(5);

/// A multi-thread runtime with `threads` workers named `tasker-store`.
///
/// The runtime sits behind a lock: calls that use it hold it shared for as long as they run,
/// and stopping takes it exclusively, so the runtime never stops under a running call (a
/// tokio timer polled after its runtime stopped panics).
pub(crate) struct StoreRuntime {
    runtime: RwLock<Option<Runtime>>,
}

impl StoreRuntime {
    pub(crate) fn new(threads: usize) -> TaskerResult<StoreRuntime> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("tasker-store")
            .enable_all()
            .build()
            .map_err(|e| TaskerError::Database(format!("cannot start the store's runtime: {e}")))?;
        Ok(StoreRuntime {
            runtime: RwLock::new(Some(runtime)),
        })
    }

    /// Runs `work` on this runtime and returns a future of its outcome that any executor can
    /// await (the state actor awaits it on actix's runtime). Once the runtime has stopped,
    /// the future fails at once.
    pub(crate) fn spawn_commit<F>(&self, what: String, work: F) -> Commit
    where
        F: Future<Output = TaskerResult<()>> + Send + 'static,
    {
        let runtime = self.runtime.read_recursive();
        let Some(runtime) = runtime.as_ref() else {
            return Box::pin(async move {
                Err(TaskerError::Database(format!(
                    "{what}: the store is closed; the batch was not written"
                )))
            });
        };
        let handle = runtime.spawn(work);
        Box::pin(async move {
            handle.await.unwrap_or_else(|e| {
                Err(TaskerError::Database(format!(
                    "{what}: the commit did not finish ({e}); the batch may or may not be written"
                )))
            })
        })
    }

    /// Runs `work` in the background until it ends or the runtime stops. Once the runtime has
    /// stopped, `work` is dropped unstarted.
    pub(crate) fn spawn<F>(&self, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if let Some(runtime) = self.runtime.read_recursive().as_ref() {
            runtime.spawn(work);
        }
    }

    /// Runs `work` to completion and returns its output.
    ///
    /// The store's blocking methods are meant for threads outside any runtime. Should one be
    /// called from inside a runtime anyway, `block_on` there would panic, so the work then runs
    /// on a short-lived helper thread instead (slower, but correct, and joined).
    pub(crate) fn block_on<F>(&self, work: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        // Shared, and recursive so a call made while a `close` waits to take the lock (and
        // under another call's guard on this thread) cannot deadlock.
        let runtime = self.runtime.read_recursive();
        match runtime.as_ref() {
            Some(runtime) => on_runtime(runtime.handle(), work),
            None => {
                drop(runtime);
                after_stop(work)
            }
        }
    }

    /// Runs a store's `close` work for at most [`CLOSE_TIMEOUT`] (closing a pool waits for
    /// every connection to come back, and one held by a stuck statement must not hold up the
    /// caller, an engine stopping at process exit), then stops the runtime and joins its
    /// threads (see the module documentation). What is left of the connections then is
    /// released when the store is dropped.
    pub(crate) fn close_within<F>(&self, store: &str, closing: F)
    where
        F: Future<Output = ()> + Send,
    {
        let finished = self
            .block_on(async move { tokio::time::timeout(CLOSE_TIMEOUT, closing).await.is_ok() });
        if !finished {
            tasker_metrics::log_warn!(
                "tasker-core: store {store}: connections still in use after {CLOSE_TIMEOUT:?}; closing without them"
            );
        }
        // Calls still running (a long read on another Ruby thread) keep the runtime until
        // they end; past JOIN_LIMIT the store's `Drop` stops it instead.
        let Some(mut runtime) = self.runtime.try_write_for(JOIN_LIMIT) else {
            tasker_metrics::log_warn!(
                "tasker-core: store {store}: calls still running after {JOIN_LIMIT:?}; its threads stop when the store is freed"
            );
            return;
        };
        if let Some(runtime) = runtime.take() {
            stop(runtime, async {});
        }
    }

    /// Runs `closing` (bounded by [`CLOSE_TIMEOUT`]) and stops the runtime, unless `close`
    /// already did; see the module documentation. For the store's `Drop`.
    pub(crate) fn shutdown<F>(&mut self, closing: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if let Some(runtime) = self.runtime.get_mut().take() {
            stop(runtime, closing);
        }
    }
}

/// `block_on` on a running runtime (see [`StoreRuntime::block_on`]).
fn on_runtime<F>(handle: &Handle, work: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    if Handle::try_current().is_err() {
        return handle.block_on(work);
    }
    std::thread::scope(|s| {
        s.spawn(|| handle.block_on(work))
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// `block_on` once the runtime has stopped: the pool is closed then, so `work` fails at once
/// with sqlx's "pool closed"; a current-thread runtime on the calling thread (no thread of
/// its own) gives it the tokio context that sqlx expects.
fn after_stop<F>(work: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    let run = move || {
        Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime needs no thread and no more than a few descriptors")
            .block_on(work)
    };
    if Handle::try_current().is_err() {
        return run();
    }
    std::thread::scope(|s| {
        s.spawn(run)
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Runs `closing` (bounded by [`CLOSE_TIMEOUT`]) on `runtime`, then shuts it down, on a
/// helper thread outside any runtime, and joins that thread. `shutdown_timeout` joins the
/// runtime's worker and blocking threads when they end within [`SHUTDOWN_TIMEOUT`].
fn stop<F>(runtime: Runtime, closing: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let stopper = std::thread::Builder::new()
        .name("tasker-store-stop".into())
        .spawn(move || {
            runtime.block_on(async {
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, closing).await;
            });
            runtime.shutdown_timeout(SHUTDOWN_TIMEOUT);
            let _ = done_tx.send(());
        });
    match stopper {
        // Bounded, whatever the runtime's state: a process exiting (or a test tearing
        // down) must never hang here. A stopper still busy past the two timeouts is
        // left to finish on its own.
        Ok(thread) => match done_rx.recv_timeout(JOIN_LIMIT) {
            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let _ = thread.join();
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => tasker_metrics::log_warn!(
                "tasker-core: the store's runtime did not stop within {JOIN_LIMIT:?}; leaving it to finish"
            ),
        },
        Err(e) => tasker_metrics::log_warn!("tasker-core: cannot stop the store's runtime cleanly: {e}"),
    }
}
