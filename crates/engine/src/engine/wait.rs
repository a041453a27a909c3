//! Waiting on a running engine: the [`Interrupt`] that cuts a wait short, why a wait ended
//! ([`WaitEnd`]), waiting for a task to finish or for the store to catch up, and the reply
//! wait every role uses to hear back from the actors.
//!
//! Every wait here has a timeout. It must not wait for steps: taking steps is `steps.rs`'s.

use super::Engine;
use crate::orchestrator::Barrier;
use crate::outcomes::Known;
use actix::{Handler, Message};
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tasker_model::{State, TaskId, TaskerError, TaskerResult};
use tasker_state::{CommitPending, Flush, StateActor};

/// Lets another thread cut a wait short (the binding's unblocking function triggers it).
pub struct Interrupt {
    flag: AtomicBool,
    tx: Sender<()>,
    /// What a waiting `select!` listens on (`steps.rs`); `trigger` sends one wake-up.
    pub(super) rx: Receiver<()>,
}

impl Default for Interrupt {
    fn default() -> Self {
        let (tx, rx) = bounded(1);
        Interrupt {
            flag: AtomicBool::new(false),
            tx,
            rx,
        }
    }
}

impl Interrupt {
    /// Ends the wait it guards as soon as possible. Safe from any thread, never blocks.
    pub fn trigger(&self) {
        self.flag.store(true, Ordering::SeqCst);
        let _ = self.tx.try_send(());
    }

    /// Whether it was triggered.
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

/// Why a wait for steps ended without any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitEnd {
    TimedOut,
    Interrupted,
    /// The channel's sending side is gone: the engine stopped (task routes only).
    Closed,
}

/// Waits for a reply on `rx`, naming `what` if the engine does not answer in time.
pub(super) fn await_reply<T>(rx: &Receiver<T>, timeout: Duration, what: &str) -> TaskerResult<T> {
    rx.recv_timeout(timeout).map_err(|e| match e {
        RecvTimeoutError::Timeout => TaskerError::Timeout(format!(
            "{what}: no answer from the engine within {timeout:?}"
        )),
        RecvTimeoutError::Disconnected => {
            TaskerError::Orchestration(format!("{what}: the engine's actors are gone"))
        }
    })
}

impl Engine {
    /// Answers once every change sent so far is applied by the store.
    pub fn flush(&self, timeout: Duration) -> TaskerResult<()> {
        self.after_all_sent(timeout, "flush", |reply| Flush { reply })
    }

    /// Answers once every change sent so far is committed, durable or not: what a read of
    /// this engine's own writes waits for (a flush would also wait for the WAL on disk).
    pub fn commit_pending(&self, timeout: Duration) -> TaskerResult<()> {
        self.after_all_sent(timeout, "commit", |reply| CommitPending { reply })
    }

    /// Lets the orchestrator hand the state actor everything it was sent, then sends the
    /// state actor `message` and waits for its answer, all within `timeout`.
    fn after_all_sent<M>(
        &self,
        timeout: Duration,
        what: &str,
        message: impl FnOnce(Sender<TaskerResult<()>>) -> M,
    ) -> TaskerResult<()>
    where
        M: Message<Result = ()> + Send + 'static,
        StateActor: Handler<M>,
    {
        let deadline = Instant::now() + timeout;
        let (tx, rx) = bounded(1);
        self.orchestrator.do_send(Barrier(tx));
        await_reply(&rx, timeout, &format!("{what} (orchestrator)"))?;
        let (tx, rx) = bounded(1);
        self.state.do_send(message(tx));
        let remaining = deadline.saturating_duration_since(Instant::now());
        await_reply(&rx, remaining, &format!("{what} (store)"))?
    }

    /// Waits until the task reaches a state where the engine stops driving it (complete,
    /// error, cancelled, resolved_manually) and returns that state.
    ///
    /// A task this engine finished is answered from its kept outcome; one it submitted and
    /// runs is waited for on the finish signal, and the store is asked only when a wait
    /// ran out without a signal (a creation the store refused never finishes here). Any
    /// other task is read from the store at every wake, as another engine may run it.
    pub fn wait_for_task(
        &self,
        task_id: TaskId,
        timeout: Duration,
        interrupt: &Interrupt,
    ) -> TaskerResult<Result<State, WaitEnd>> {
        let deadline = Instant::now() + timeout;
        let mut signalled = true;
        loop {
            let seen = self.finished.generation();
            let ask_store = match self.outcomes.known(task_id) {
                Known::Finished(outcome) => return Ok(Ok(outcome.state)),
                Known::Live => !signalled,
                Known::Unknown => true,
            };
            // The last read's failure while the database could not answer (a restart, a
            // failover): the wait goes on and reports it only if time runs out first.
            let mut unanswered = None;
            if ask_store {
                let state = match self.read_own(|store| store.task_state(task_id)) {
                    Ok(state) => state,
                    Err(e @ TaskerError::Database(_)) => {
                        unanswered = Some(e);
                        Some(State::Pending)
                    }
                    Err(e) => return Err(e),
                };
                match state {
                    None => {
                        self.outcomes.live_ended(task_id);
                        return Err(TaskerError::validation(
                            format!("task {task_id}"),
                            "no such task in this engine's store",
                        ));
                    }
                    Some(
                        s @ (State::Complete
                        | State::Error
                        | State::Cancelled
                        | State::ResolvedManually),
                    ) => return Ok(Ok(s)),
                    Some(_) => {}
                }
            }
            if interrupt.is_set() {
                return Ok(Err(WaitEnd::Interrupted));
            }
            let now = Instant::now();
            if now >= deadline {
                return match unanswered {
                    Some(e) => Err(e),
                    None => Ok(Err(WaitEnd::TimedOut)),
                };
            }
            if *self.stopping.read() {
                return Err(TaskerError::Orchestration(format!(
                    "task {task_id}: the engine stopped before the task finished"
                )));
            }
            self.finished
                .wait_past(seen, (deadline - now).min(Duration::from_millis(100)));
            signalled = self.finished.generation() != seen;
        }
    }

    /// Wakes every thread in `wait_for_task` so it can notice an interrupt.
    pub fn wake_waiters(&self) {
        self.finished.notify();
    }
}
