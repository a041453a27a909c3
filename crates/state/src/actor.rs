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
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tasker_metrics::Metrics;
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

/// Writes to commit with the next batch, like [`ApplyChanges`], and answer on `reply` with
/// the outcome of the transaction that carried them (not with earlier failures): a caller
/// that needs to know its change is durable (e.g. a durable submission) waits for this.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ApplyAcked {
    pub changes: Vec<Change>,
    pub reply: Sender<TaskerResult<()>>,
}

/// Sees each batch just before it goes to the store and says what to do if it commits
/// (live counters that must move only with committed facts). Batches are shown one at a
/// time, in commit order, each after the previous one's outcome is known.
pub trait CommitObserver: Send + Sync + 'static {
    /// Called on the state actor's thread; must be quick and must not block.
    fn before_commit(&self, changes: &[Change]) -> Box<dyn FnOnce() + Send>;
}

/// Something to do once every change received so far is committed: the engine announces
/// events this way, so a subscriber that reads the store finds what the event describes.
/// It is dropped, not run, when that commit fails (what it would announce was not stored).
#[derive(Message)]
#[rtype(result = "()")]
pub struct AfterCommit(pub Box<dyn FnOnce() + Send>);

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

/// The last error the store reported (`engine.last_store_error`); the actor's counts and
/// commit times go to the engine's [`Metrics`].
pub type LastStoreError = Mutex<Option<TaskerError>>;

/// Writes to commit in a transaction of their own, then answer on `reply` with the outcome.
/// Used for manual operations whose optimistic checks may fail: a failure must not take the
/// engine's own writes down with it. Ordered after everything received before it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ApplyAlone {
    pub changes: Vec<Change>,
    pub reply: Sender<TaskerResult<()>>,
}

/// Who waits for a batch's commit, and what they are told.
enum Waiter {
    /// A flush: the batch's failure, or else an earlier failure nobody was told of.
    Flush(Sender<TaskerResult<()>>),
    /// An acknowledged write: exactly the outcome of the batch that carried it.
    Ack(Sender<TaskerResult<()>>),
}

/// One transaction to be.
struct Batch {
    changes: Vec<Change>,
    /// Answered with the batch's outcome once it is committed.
    waiters: Vec<Waiter>,
    /// Takes no more changes (an `ApplyAlone` batch, or one followed by one).
    sealed: bool,
    /// An `ApplyAlone` batch: its one waiter owns its outcome.
    alone: bool,
    /// Run after the batch commits (see [`AfterCommit`]).
    after_commit: Vec<Box<dyn FnOnce() + Send>>,
}

/// See the module documentation.
pub struct StateActor {
    store: Arc<dyn Store>,
    /// Batches waiting to be committed, oldest first; the last one gathers new changes
    /// unless it is sealed.
    queue: VecDeque<Batch>,
    max_batch: usize,
    commit_interval: Duration,
    timer_armed: bool,
    /// A commit is running; only one runs at a time, so batches reach the store in order.
    committing: bool,
    /// Flushes that arrived with nothing queued: answered when the running commit ends.
    waiting_on_running: Vec<Waiter>,
    /// `AfterCommit`s that arrived with nothing queued: run when the running commit ends.
    after_running: Vec<Box<dyn FnOnce() + Send>>,
    /// The failure of an engine batch that no flush has reported yet: the next flush
    /// reports it, whenever that batch was committed.
    unreported: Option<TaskerError>,
    finished: Arc<TaskFinishedSignal>,
    metrics: Arc<Metrics>,
    last_error: Arc<LastStoreError>,
    observer: Option<Arc<dyn CommitObserver>>,
}

impl StateActor {
    /// An actor writing to `store`.
    pub fn new(
        store: Arc<dyn Store>,
        max_batch: usize,
        commit_interval: Duration,
        finished: Arc<TaskFinishedSignal>,
        metrics: Arc<Metrics>,
        last_error: Arc<LastStoreError>,
    ) -> StateActor {
        StateActor {
            store,
            queue: VecDeque::new(),
            max_batch: max_batch.max(1),
            commit_interval,
            timer_armed: false,
            committing: false,
            waiting_on_running: Vec::new(),
            after_running: Vec::new(),
            unreported: None,
            finished,
            metrics,
            last_error,
            observer: None,
        }
    }

    /// Shows every batch to `observer` before it is committed (see [`CommitObserver`]).
    pub fn with_observer(mut self, observer: Arc<dyn CommitObserver>) -> StateActor {
        self.observer = Some(observer);
        self
    }

    /// Answers a waiter: an ack with `result`; a flush with `result`, or with an earlier
    /// unreported failure.
    fn answer(&mut self, waiter: Waiter, result: &TaskerResult<()>) {
        match waiter {
            Waiter::Ack(reply) => {
                let _ = reply.send(result.clone());
            }
            Waiter::Flush(reply) => {
                let answer = match (result, self.unreported.take()) {
                    (Err(e), _) => Err(e.clone()),
                    (Ok(()), Some(e)) => Err(e),
                    (Ok(()), None) => Ok(()),
                };
                let _ = reply.send(answer);
            }
        }
    }

    /// The batch new changes join.
    fn open_batch(&mut self) -> &mut Batch {
        if self.queue.back().is_none_or(|b| b.sealed) {
            self.queue.push_back(Batch {
                changes: Vec::new(),
                waiters: Vec::new(),
                sealed: false,
                alone: false,
                after_commit: Vec::new(),
            });
        }
        self.queue.back_mut().expect("just ensured")
    }

    /// Starts the next commit when one is due: at once if the window is zero, the batch is
    /// full, sealed, or awaited by a flush; else when the window closes. What arrives while
    /// a commit runs gathers in the next batch (group commit).
    fn maybe_commit(&mut self, ctx: &mut Context<Self>) {
        if self.committing {
            return;
        }
        let Some(front) = self.queue.front() else {
            return;
        };
        let due = self.commit_interval.is_zero()
            || front.changes.len() >= self.max_batch
            || front.sealed
            || !front.waiters.is_empty()
            || self.queue.len() > 1;
        if due {
            self.commit(ctx);
        } else if !self.timer_armed {
            self.timer_armed = true;
            ctx.run_later(self.commit_interval, |act, ctx| {
                act.timer_armed = false;
                act.commit(ctx);
            });
        }
    }

    fn commit(&mut self, ctx: &mut Context<Self>) {
        if self.committing {
            return;
        }
        let Some(batch) = self.queue.pop_front() else {
            return;
        };
        if batch.changes.is_empty() {
            for w in batch.waiters {
                self.answer(w, &Ok(()));
            }
            for f in batch.after_commit {
                f();
            }
            return self.maybe_commit(ctx);
        }
        let finishes_a_task = batch.changes.iter().any(|c| {
            matches!(c, Change::TaskTransition { to, .. }
                if matches!(to, State::Complete | State::Error | State::Cancelled | State::ResolvedManually))
        });
        let size = batch.changes.len();
        // An engine batch's failure must reach a flush: an ack tells only its own sender,
        // and the batch may carry other tasks' changes too.
        let owned = batch.alone || batch.waiters.iter().any(|w| matches!(w, Waiter::Flush(_)));
        let waiters = batch.waiters;
        let after_commit = batch.after_commit;
        let observed = self
            .observer
            .as_ref()
            .map(|observer| observer.before_commit(&batch.changes));
        self.committing = true;
        let started = std::time::Instant::now();
        let describe = self.store.describe();
        ctx.spawn(wrap_future::<_, Self>(self.store.apply(batch.changes)).map(
            move |result, act, ctx| {
                act.committing = false;
                act.metrics.store_commit.record(started.elapsed());
                // Before any waiter or event hears of the commit, so what they read agrees.
                if let (Ok(()), Some(apply)) = (&result, observed) {
                    apply();
                }
                act.metrics.store_batches.fetch_add(1, Ordering::Relaxed);
                act.metrics
                    .store_changes
                    .fetch_add(size as u64, Ordering::Relaxed);
                if let Err(e) = &result {
                    act.metrics
                        .store_failed_batches
                        .fetch_add(1, Ordering::Relaxed);
                    *act.last_error.lock() = Some(e.clone());
                    if !owned {
                        tasker_metrics::log_error!(
                            "tasker-core: store {describe} refused a batch of {size} changes: {e}"
                        );
                        act.unreported = Some(e.clone());
                    }
                }
                let running: Vec<_> = act.waiting_on_running.drain(..).collect();
                for w in waiters.into_iter().chain(running) {
                    act.answer(w, &result);
                }
                let after_running: Vec<_> = act.after_running.drain(..).collect();
                if result.is_ok() {
                    for f in after_commit.into_iter().chain(after_running) {
                        f();
                    }
                }
                // After the `AfterCommit`s: the engine keeps a finished task's outcome
                // through one, and a woken waiter should find it there.
                if finishes_a_task {
                    act.finished.notify();
                }
                act.maybe_commit(ctx);
            },
        ));
    }
}

impl Actor for StateActor {
    type Context = Context<Self>;
}

impl Handler<ApplyChanges> for StateActor {
    type Result = ();

    fn handle(&mut self, msg: ApplyChanges, ctx: &mut Self::Context) {
        self.open_batch().changes.extend(msg.0);
        self.maybe_commit(ctx);
    }
}

impl Handler<ApplyAlone> for StateActor {
    type Result = ();

    fn handle(&mut self, msg: ApplyAlone, ctx: &mut Self::Context) {
        if let Some(back) = self.queue.back_mut() {
            back.sealed = true;
        }
        self.queue.push_back(Batch {
            changes: msg.changes,
            waiters: vec![Waiter::Ack(msg.reply)],
            sealed: true,
            alone: true,
            after_commit: Vec::new(),
        });
        self.maybe_commit(ctx);
    }
}

impl Handler<ApplyAcked> for StateActor {
    type Result = ();

    fn handle(&mut self, msg: ApplyAcked, ctx: &mut Self::Context) {
        let batch = self.open_batch();
        batch.changes.extend(msg.changes);
        batch.waiters.push(Waiter::Ack(msg.reply));
        self.maybe_commit(ctx);
    }
}

impl Handler<AfterCommit> for StateActor {
    type Result = ();

    fn handle(&mut self, msg: AfterCommit, _ctx: &mut Self::Context) {
        // Onto the newest batch even when it is sealed: it holds the latest changes.
        if let Some(back) = self.queue.back_mut() {
            back.after_commit.push(msg.0);
        } else if self.committing {
            self.after_running.push(msg.0);
        } else {
            (msg.0)();
        }
    }
}

impl Handler<Flush> for StateActor {
    type Result = ();

    fn handle(&mut self, msg: Flush, ctx: &mut Self::Context) {
        if self.queue.is_empty() {
            if self.committing {
                self.waiting_on_running.push(Waiter::Flush(msg.reply));
            } else {
                self.answer(Waiter::Flush(msg.reply), &Ok(()));
            }
        } else {
            // Not onto a sealed (manual) batch: its failure is not the flusher's.
            self.open_batch().waiters.push(Waiter::Flush(msg.reply));
        }
        self.maybe_commit(ctx);
    }
}
