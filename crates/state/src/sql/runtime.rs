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
//! Shutdown protocol (on the store's `Drop`): run the store's closing future (close the pool
//! and the lock connection, so PostgreSQL releases session locks at once) for at most
//! [`CLOSE_TIMEOUT`], then `shutdown_timeout(`[`SHUTDOWN_TIMEOUT`]`)`. Both happen on a helper
//! thread that `Drop` joins: that thread is outside any runtime, so the store may be dropped
//! anywhere, including on an actor's thread, without tokio's "cannot drop a runtime in an
//! async context" panic. The join itself is bounded ([`JOIN_LIMIT`]): a process exiting
//! never hangs on a store.

use crate::store::Commit;
use std::future::Future;
use std::time::Duration;
use tasker_model::{TaskerError, TaskerResult};
use tokio::runtime::{Builder, Handle, Runtime};

/// How long closing (and `Drop`) lets the store close its connections. Short on purpose: it
/// runs after the engine's last flush, so nothing of the engine's is left to write, and a
/// pool connection that is not back by then (on PostgreSQL one sometimes is not, at process
/// exit) must not hold up a process that is stopping.
pub(crate) const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long `Drop` then waits for the runtime's remaining work.
pub(crate) const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);
/// The most `Drop` waits for both, even if the runtime cannot run its timers.
const JOIN_LIMIT: Duration = Duration::from_secs(5);

/// A multi-thread runtime with `threads` workers named `tasker-store`.
pub(crate) struct StoreRuntime {
    runtime: Option<Runtime>,
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
            runtime: Some(runtime),
        })
    }

    fn handle(&self) -> &Handle {
        self.runtime
            .as_ref()
            .expect("the runtime lives until the store is dropped")
            .handle()
    }

    /// Runs `work` on this runtime and returns a future of its outcome that any executor can
    /// await (the state actor awaits it on actix's runtime).
    pub(crate) fn spawn_commit<F>(&self, what: String, work: F) -> Commit
    where
        F: Future<Output = TaskerResult<()>> + Send + 'static,
    {
        let handle = self.handle().spawn(work);
        Box::pin(async move {
            handle.await.unwrap_or_else(|e| {
                Err(TaskerError::Database(format!(
                    "{what}: the commit did not finish ({e}); the batch may or may not be written"
                )))
            })
        })
    }

    /// Runs `work` in the background until it ends or the runtime shuts down.
    pub(crate) fn spawn<F>(&self, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.handle().spawn(work);
    }

    /// Runs `work` to completion and returns its output.
    ///
    /// The store's blocking methods are meant for threads outside any runtime. Should one be
    /// called from inside a runtime anyway, `block_on` there would panic, so the work then runs
    /// on a short-lived helper thread instead (slower, but correct).
    pub(crate) fn block_on<F>(&self, work: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        let handle = self.handle();
        if Handle::try_current().is_err() {
            return handle.block_on(work);
        }
        std::thread::scope(|s| {
            s.spawn(|| handle.block_on(work))
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Runs a store's `close` work for at most [`CLOSE_TIMEOUT`]: closing a pool waits for
    /// every connection to come back, and one held by a stuck statement must not hold up
    /// the caller (an engine stopping at process exit). What is left then is released when
    /// the store is dropped.
    pub(crate) fn close_within<F>(&self, store: &str, closing: F)
    where
        F: Future<Output = ()> + Send,
    {
        let finished = self
            .block_on(async move { tokio::time::timeout(CLOSE_TIMEOUT, closing).await.is_ok() });
        if !finished {
            eprintln!(
                "tasker-core: store {store}: connections still in use after {CLOSE_TIMEOUT:?}; closing without them"
            );
        }
    }

    /// Runs `closing` (bounded by [`CLOSE_TIMEOUT`]) and shuts the runtime down; see the
    /// module documentation. Later calls do nothing.
    pub(crate) fn shutdown<F>(&mut self, closing: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Some(runtime) = self.runtime.take() else {
            return;
        };
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
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => eprintln!(
                    "tasker-core: the store's runtime did not stop within {JOIN_LIMIT:?}; leaving it to finish"
                ),
            },
            Err(e) => eprintln!("tasker-core: cannot stop the store's runtime cleanly: {e}"),
        }
    }
}
