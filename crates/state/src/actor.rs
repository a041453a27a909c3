//! The state actor: the one writer of a store.
//!
//! Writes arrive as [`ApplyChanges`] messages and are committed in batches (group commit):
//! a batch is written when it reaches `max_batch` changes or when `commit_interval` has
//! passed since its first change, whichever comes first. With a zero interval every message
//! is its own batch, which suits the in-memory store. Because the actor is the only writer,
//! history ordering per task is the order the orchestrator produced it.

use crate::change::Change;
use crate::store::Store;
use actix::prelude::*;
use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tasker_model::{State, TaskerError, TaskerResult};

/// Writes to commit (fire-and-forget; failures are counted and kept for `stats`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ApplyChanges(pub Vec<Change>);

/// Commit everything received so far, then answer on `reply`. The reply travels on a
/// crossbeam channel so a thread outside the actor system can wait for it with a timeout.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Flush {
    pub reply: crossbeam_channel::Sender<TaskerResult<()>>,
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
            finished,
            stats,
        }
    }

    /// Writes the buffer as one batch.
    fn commit(&mut self) -> TaskerResult<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.buffer);
        let finishes_a_task = batch.iter().any(|c| {
            matches!(c, Change::TaskTransition { to, .. }
                if matches!(to, State::Complete | State::Error | State::Cancelled | State::ResolvedManually))
        });
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        self.stats
            .changes
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let result = self.store.apply(&batch);
        if let Err(e) = &result {
            self.stats.failed_batches.fetch_add(1, Ordering::Relaxed);
            *self.stats.last_error.lock() = Some(e.clone());
            eprintln!(
                "tasker-core: store {} refused a batch of {} changes: {e}",
                self.store.describe(),
                batch.len()
            );
        }
        if finishes_a_task {
            self.finished.notify();
        }
        result
    }
}

impl Actor for StateActor {
    type Context = Context<Self>;

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        // Nothing received may be lost on a clean stop.
        let _ = self.commit();
    }
}

impl Handler<ApplyChanges> for StateActor {
    type Result = ();

    fn handle(&mut self, msg: ApplyChanges, ctx: &mut Self::Context) {
        self.buffer.extend(msg.0);
        if self.commit_interval.is_zero() || self.buffer.len() >= self.max_batch {
            let _ = self.commit();
        } else if !self.timer_armed {
            self.timer_armed = true;
            ctx.run_later(self.commit_interval, |act, _| {
                act.timer_armed = false;
                let _ = act.commit();
            });
        }
    }
}

impl Handler<Flush> for StateActor {
    type Result = ();

    fn handle(&mut self, msg: Flush, _ctx: &mut Self::Context) {
        let _ = msg.reply.send(self.commit());
    }
}
