//! The state actor: the one writer of a store.
//!
//! Writes arrive as [`ApplyChanges`] messages and are committed in batches (group commit):
//! one commit runs at a time, and everything that arrives while it runs is written by the
//! next one, in one transaction. A non-zero `commit_interval` also holds a small batch back
//! until the window closes or `max_batch` changes have gathered. Because the actor is the
//! only writer, history ordering per task is the order the orchestrator produced it.
//!
//! A batch that nobody waits for and that finishes no task (a task's creation, steps handed
//! out and reported) may wait [`DEFERRABLE_HOLD`] for more to join it: a small task usually
//! finishes within it, and its creation and finish then take one commit instead of two.
//! Such a batch is also committed [`Durability::Deferred`]: on PostgreSQL it does not wait
//! for its WAL flush. So is one whose only waiters are [`CommitPending`]s (a read of the
//! engine's own writes needs the rows, not their durability), which commits at once.
//! Whoever is told that something is stored (a flush, an acknowledged write, the waiter of a
//! finished task) is told after a durable commit, which flushes every deferred one before
//! it; a flush with nothing of its own to write after a deferred commit asks the store to
//! make it durable ([`Store::make_durable`]).

use crate::change::Change;
use crate::finished_signal::TaskFinishedSignal;
use crate::store::{Durability, Store};
use actix::fut::{wrap_future, ActorFutureExt};
use actix::prelude::*;
use crossbeam_channel::Sender;
use parking_lot::Mutex;
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

/// Commit everything received so far, then answer on `reply` once readers can see it: like
/// [`Flush`], but a deferred commit answers it, so it costs no WAL flush (a read of a task
/// this engine accepted and has not committed yet needs the row, not its durability).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CommitPending {
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
    /// A [`CommitPending`]: the batch's outcome, which may be deferred.
    Visible(Sender<TaskerResult<()>>),
}

impl Waiter {
    /// Must be told after a durable commit.
    fn wants_durable(&self) -> bool {
        !matches!(self, Waiter::Visible(_))
    }
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
    /// One of its changes finishes a task (whose waiter is woken once it is committed).
    finishes: bool,
}

/// How long a batch nobody waits for and that finishes no task may wait for more changes
/// when there is no `commit_interval` (see the module documentation). Short beside what a
/// caller would notice; long enough for a small task of quick steps to finish.
const DEFERRABLE_HOLD: Duration = Duration::from_millis(1);

impl Batch {
    fn new(changes: Vec<Change>, waiters: Vec<Waiter>, alone: bool) -> Batch {
        let mut batch = Batch {
            changes: Vec::new(),
            waiters,
            sealed: alone,
            alone,
            after_commit: Vec::new(),
            finishes: false,
        };
        batch.add(changes);
        batch
    }

    fn add(&mut self, changes: Vec<Change>) {
        self.finishes |= changes.iter().any(|c| {
            matches!(c, Change::TaskTransition { to, .. }
                if matches!(to, State::Complete | State::Error | State::Cancelled | State::ResolvedManually))
        });
        self.changes.extend(changes);
    }

    /// Somebody is told of its commit as durable, or it finishes a task: on a store that
    /// defers durability, only a batch that owes none commits before it is durable.
    fn durability_owed(&self) -> bool {
        self.alone || self.finishes || self.waiters.iter().any(Waiter::wants_durable)
    }

    /// Nobody waits for it and it owes no durability: it may wait for more changes.
    fn may_wait(&self) -> bool {
        self.waiters.is_empty() && !self.durability_owed()
    }
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
    /// Flushes and `CommitPending`s that arrived with nothing queued: answered when the
    /// running commit ends.
    waiting_on_running: Vec<Waiter>,
    /// `AfterCommit`s that arrived with nothing queued: run when the running commit ends.
    after_running: Vec<Box<dyn FnOnce() + Send>>,
    /// The store may report a deferred commit before it is durable (`Store::defers_durability`).
    defers: bool,
    /// The running commit is deferred.
    running_deferred: bool,
    /// The last commit that succeeded was deferred: not durable until the next durable one.
    unflushed: bool,
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
            defers: store.defers_durability(),
            running_deferred: false,
            unflushed: false,
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

    /// Answers a waiter: an ack or a `CommitPending` with `result`; a flush with `result`,
    /// or with an earlier unreported failure.
    fn answer(&mut self, waiter: Waiter, result: &TaskerResult<()>) {
        match waiter {
            Waiter::Ack(reply) | Waiter::Visible(reply) => {
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
            self.queue
                .push_back(Batch::new(Vec::new(), Vec::new(), false));
        }
        self.queue.back_mut().expect("just ensured")
    }

    /// Starts the next commit when one is due: at once if the window is zero, the batch is
    /// full, sealed, or awaited by anyone; else when the window closes. The window is
    /// `commit_interval`, or without one [`DEFERRABLE_HOLD`] for a batch that may wait
    /// ([`Batch::may_wait`]) and zero for any other. What arrives while a commit runs
    /// gathers in the next batch (group commit).
    fn maybe_commit(&mut self, ctx: &mut Context<Self>) {
        if self.committing {
            return;
        }
        let Some(front) = self.queue.front() else {
            return;
        };
        let window = match (self.commit_interval.is_zero(), front.may_wait()) {
            (false, _) => self.commit_interval,
            (true, true) => DEFERRABLE_HOLD,
            (true, false) => Duration::ZERO,
        };
        let due = window.is_zero()
            || front.changes.len() >= self.max_batch
            || front.sealed
            || !front.waiters.is_empty()
            || self.queue.len() > 1;
        if due {
            self.commit(ctx);
        } else if !self.timer_armed {
            self.timer_armed = true;
            ctx.run_later(window, |act, ctx| {
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
        // Nothing to write, but a flush after a deferred commit: that commit must be made
        // durable before the flush is answered.
        let make_durable = batch.changes.is_empty()
            && self.unflushed
            && batch.waiters.iter().any(Waiter::wants_durable);
        if batch.changes.is_empty() && !make_durable {
            for w in batch.waiters {
                self.answer(w, &Ok(()));
            }
            for f in batch.after_commit {
                f();
            }
            return self.maybe_commit(ctx);
        }
        let finishes_a_task = batch.finishes;
        let size = batch.changes.len();
        // An engine batch's failure must reach a flush: an ack tells only its own sender,
        // and the batch may carry other tasks' changes too.
        let alone = batch.alone;
        let owned = alone || batch.waiters.iter().any(|w| matches!(w, Waiter::Flush(_)));
        let durability = if self.defers && !batch.durability_owed() {
            Durability::Deferred
        } else {
            Durability::Now
        };
        let waiters = batch.waiters;
        let after_commit = batch.after_commit;
        let observed = self
            .observer
            .as_ref()
            .filter(|_| !make_durable)
            .map(|observer| observer.before_commit(&batch.changes));
        self.committing = true;
        self.running_deferred = durability == Durability::Deferred;
        let started = std::time::Instant::now();
        let describe = self.store.describe();
        let commit = if make_durable {
            self.store.make_durable()
        } else {
            self.store.apply(batch.changes, durability)
        };
        ctx.spawn(wrap_future::<_, Self>(commit).map(move |result, act, ctx| {
            act.committing = false;
            act.running_deferred = false;
            if result.is_ok() {
                act.unflushed = durability == Durability::Deferred;
            }
            // Before any waiter or event hears of the commit, so what they read agrees.
            if let (Ok(()), Some(apply)) = (&result, observed) {
                apply();
            }
            if !make_durable {
                act.metrics.store_commit.record(started.elapsed());
                act.metrics.store_batches.fetch_add(1, Ordering::Relaxed);
                act.metrics
                    .store_changes
                    .fetch_add(size as u64, Ordering::Relaxed);
            }
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
            for w in waiters {
                act.answer(w, &result);
            }
            // Flushes that came while this batch committed wait for it, but a manual
            // operation's refusal is its own caller's, not theirs.
            let theirs = if alone { Ok(()) } else { result.clone() };
            let running: Vec<_> = act.waiting_on_running.drain(..).collect();
            for w in running {
                act.answer(w, &theirs);
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
        }));
    }
}

impl Actor for StateActor {
    type Context = Context<Self>;
}

impl Handler<ApplyChanges> for StateActor {
    type Result = ();

    fn handle(&mut self, msg: ApplyChanges, ctx: &mut Self::Context) {
        self.open_batch().add(msg.0);
        self.maybe_commit(ctx);
    }
}

impl Handler<ApplyAlone> for StateActor {
    type Result = ();

    fn handle(&mut self, msg: ApplyAlone, ctx: &mut Self::Context) {
        if let Some(back) = self.queue.back_mut() {
            back.sealed = true;
        }
        self.queue
            .push_back(Batch::new(msg.changes, vec![Waiter::Ack(msg.reply)], true));
        self.maybe_commit(ctx);
    }
}

impl Handler<ApplyAcked> for StateActor {
    type Result = ();

    fn handle(&mut self, msg: ApplyAcked, ctx: &mut Self::Context) {
        let batch = self.open_batch();
        batch.add(msg.changes);
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

impl Handler<CommitPending> for StateActor {
    type Result = ();

    fn handle(&mut self, msg: CommitPending, ctx: &mut Self::Context) {
        let waiter = Waiter::Visible(msg.reply);
        match (self.queue.is_empty(), self.committing) {
            (true, true) => self.waiting_on_running.push(waiter),
            (true, false) => self.answer(waiter, &Ok(())),
            (false, _) => self.open_batch().waiters.push(waiter),
        }
        self.maybe_commit(ctx);
    }
}

impl Handler<Flush> for StateActor {
    type Result = ();

    fn handle(&mut self, msg: Flush, ctx: &mut Self::Context) {
        // What is committed, or committing, may be deferred: then the flush waits for a
        // durable commit of its own (the next batch's, or `make_durable`).
        let durable_so_far = if self.committing {
            !self.running_deferred
        } else {
            !self.unflushed
        };
        if self.queue.is_empty() && durable_so_far {
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
