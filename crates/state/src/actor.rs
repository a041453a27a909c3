//! The state actor: the one writer of a store.
//!
//! Writes arrive as [`ApplyChanges`] messages and are committed in batches (group commit):
//! one commit runs at a time, and everything that arrives while it runs is written by the
//! next one, in one transaction. A non-zero `commit_interval` also holds a small batch back
//! until the window closes or `max_batch` changes have gathered. Because the actor is the
//! only writer, history ordering per task is the order the orchestrator produced it.

use crate::change::Change;
use crate::store::Store;
use actix::fut::{wrap_future, ActorFutureExt};
use actix::prelude::*;
use crossbeam_channel::Sender;
use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tasker_model::{State, TaskerError, TaskerResult};

/// Writes to commit (fire-and-forget; failures are counted and kept for `stats`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ApplyChanges(pub Vec<Change>);

/// Commit everything received so far, then answer on `reply` with the commit's outcome.
/// The reply travels on a crossbeam channel so a thread outside the actor system can wait
/// for it with a timeout.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Flush {
    pub reply: Sender<TaskerResult<()>>,
}

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

/// Counters the engine reports in `stats`.
#[derive(Default)]
pub struct StateStats {
    pub batches: AtomicU64,
    pub changes: AtomicU64,
    pub failed_batches: AtomicU64,
    pub last_error: Mutex<Option<TaskerError>>,
}

/// See the module documentation.
pub struct StateActor {
    store: Arc<dyn Store>,
    buffer: Vec<Change>,
    max_batch: usize,
    commit_interval: Duration,
    timer_armed: bool,
    /// A commit is running; what arrives meanwhile waits in `buffer` for the next one.
    committing: bool,
    /// Flushes answered when the running commit ends (everything they cover is in it).
    waiting_on_running: Vec<Sender<TaskerResult<()>>>,
    /// Flushes answered when the next commit ends (they cover what is in `buffer`).
    waiting_on_next: Vec<Sender<TaskerResult<()>>>,
    finished: Arc<TaskFinishedSignal>,
    stats: Arc<StateStats>,
}

impl StateActor {
    /// An actor writing to `store`.
    pub fn new(
        store: Arc<dyn Store>,
        max_batch: usize,
        commit_interval: Duration,
        finished: Arc<TaskFinishedSignal>,
        stats: Arc<StateStats>,
    ) -> StateActor {
        StateActor {
            store,
            buffer: Vec::new(),
            max_batch: max_batch.max(1),
            commit_interval,
            timer_armed: false,
            committing: false,
            waiting_on_running: Vec::new(),
            waiting_on_next: Vec::new(),
            finished,
            stats,
        }
    }

    /// Starts a commit of the buffer when one is due: now if the window is zero, the batch
    /// is full or someone waits on a flush; else when the window closes. Only one commit runs
    /// at a time, so everything that arrives during a commit goes out together in the next
    /// (group commit), and batches reach the store in the order they were produced.
    fn maybe_commit(&mut self, ctx: &mut Context<Self>) {
        if self.committing {
            return;
        }
        if self.buffer.is_empty() {
            for w in self.waiting_on_next.drain(..) {
                let _ = w.send(Ok(()));
            }
            return;
        }
        let due = self.commit_interval.is_zero()
            || self.buffer.len() >= self.max_batch
            || !self.waiting_on_next.is_empty();
        if !due {
            if !self.timer_armed {
                self.timer_armed = true;
                ctx.run_later(self.commit_interval, |act, ctx| {
                    act.timer_armed = false;
                    act.commit(ctx);
                });
            }
            return;
        }
        self.commit(ctx);
    }

    fn commit(&mut self, ctx: &mut Context<Self>) {
        if self.committing || self.buffer.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.buffer);
        let finishes_a_task = batch.iter().any(|c| {
            matches!(c, Change::TaskTransition { to, .. }
                if matches!(to, State::Complete | State::Error | State::Cancelled | State::ResolvedManually))
        });
        let size = batch.len();
        self.committing = true;
        self.waiting_on_running = std::mem::take(&mut self.waiting_on_next);
        let describe = self.store.describe();
        ctx.spawn(
            wrap_future::<_, Self>(self.store.apply(batch)).map(move |result, act, ctx| {
                act.committing = false;
                act.stats.batches.fetch_add(1, Ordering::Relaxed);
                act.stats.changes.fetch_add(size as u64, Ordering::Relaxed);
                if let Err(e) = &result {
                    act.stats.failed_batches.fetch_add(1, Ordering::Relaxed);
                    *act.stats.last_error.lock() = Some(e.clone());
                    eprintln!(
                        "tasker-core: store {describe} refused a batch of {size} changes: {e}"
                    );
                }
                if finishes_a_task {
                    act.finished.notify();
                }
                for w in act.waiting_on_running.drain(..) {
                    let _ = w.send(result.clone());
                }
                act.maybe_commit(ctx);
            }),
        );
    }
}

impl Actor for StateActor {
    type Context = Context<Self>;
}

impl Handler<ApplyChanges> for StateActor {
    type Result = ();

    fn handle(&mut self, msg: ApplyChanges, ctx: &mut Self::Context) {
        self.buffer.extend(msg.0);
        self.maybe_commit(ctx);
    }
}

impl Handler<Flush> for StateActor {
    type Result = ();

    fn handle(&mut self, msg: Flush, ctx: &mut Self::Context) {
        if self.buffer.is_empty() && self.committing {
            self.waiting_on_running.push(msg.reply);
        } else {
            self.waiting_on_next.push(msg.reply);
            self.maybe_commit(ctx);
        }
    }
}
