//! Taking work from a store shared by several engines' processes (PostgreSQL): tasks a
//! `client` engine submitted, and tasks of processes found dead, claimed up to this engine's
//! share and driven here as if recovered (steps a dead process had running fail with
//! `engine_restart` and are retried; committed completions never rerun).
//!
//! One thread per engine, started by [`Engine::start_claiming`] once the handler pools
//! are up. It wakes when the store announces work (NOTIFY), when a task of this engine
//! ends while work was left for lack of room ([`Look`]), and every `interval` in any case (polling is what finds dead
//! processes' tasks, and covers a lost LISTEN). It also tells the orchestrator to drop
//! the tasks the store found taken over by another process. Claims are statements of the
//! store's; this file must not write to the store nor decide anything about a task.

use super::submit::{read_claimed, RecoveryReport};
use super::wait::await_reply;
use super::Engine;
use crate::awaiting::AwaitingTemplates;
use crate::inflight::Inflight;
use crate::orchestrator::{CountLive, DropTasks, Orchestrator, Recover, SetPaused};
use crate::registry::TemplateRegistry;
use actix::Addr;
use crossbeam_channel::{after, bounded, never, select, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tasker_model::{TaskerError, TaskerResult};
use tasker_state::Store;

/// How an engine claims work from a shared store.
#[derive(Debug, Clone)]
pub struct ClaimSettings {
    /// Longest wait between two looks for work.
    pub interval: Duration,
    /// Most tasks this engine drives at once through claiming: it claims only while it
    /// drives fewer (its own submissions are not limited). Zero: it claims nothing, and
    /// the thread only takes on the pauses other processes set (an engine that hands out
    /// the steps of its own tasks only, `recover: false` or no handler threads, must still
    /// honour them: review M3).
    pub max_tasks: usize,
}

/// The claiming thread and the way to stop it.
pub(crate) struct ClaimLoop {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl ClaimLoop {
    /// Stops the thread and waits for it (a claim or resume in progress finishes first).
    pub(crate) fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

/// What the claiming thread works with: parts of the engine it shares.
struct Claimer {
    store: Arc<dyn Store>,
    inflight: Arc<Inflight>,
    registry: Arc<TemplateRegistry>,
    awaiting: Arc<AwaitingTemplates>,
    orchestrator: Addr<Orchestrator>,
    settings: ClaimSettings,
    /// Reads of the shared pauses, applied one at a time and only when changed.
    pause_reads: Arc<super::pause_reads::PauseReads>,
}

/// How long one exchange with the orchestrator may take before the thread gives up on it.
const ORCHESTRATOR_WAIT: Duration = Duration::from_secs(30);
/// After a failed claim (database unreachable), the wait before the next.
const AFTER_FAILURE: Duration = Duration::from_secs(2);

impl Engine {
    /// Starts claiming work from a shared store (see the module documentation); `false`
    /// when the store serves this process only (SQLite, memory), where there is nothing to
    /// claim. Once per engine.
    pub fn start_claiming(&self, settings: ClaimSettings) -> TaskerResult<bool> {
        if !self.store.shares_tasks() || self.submit_only {
            return Ok(false);
        }
        let mut claiming = self.claiming.lock();
        if claiming.is_some() {
            return Err(TaskerError::Orchestration(
                "this engine is already claiming work".into(),
            ));
        }
        if self.is_stopped() {
            return Err(TaskerError::Orchestration("the engine is stopped".into()));
        }
        let claimer = Claimer {
            store: self.store.clone(),
            inflight: self.inflight.clone(),
            registry: self.registry.clone(),
            awaiting: self.awaiting.clone(),
            orchestrator: self.orchestrator.clone(),
            settings,
            pause_reads: self.pause_reads.clone(),
        };
        // The pauses other processes set hold from the start (the first round runs on the
        // thread, and steps may go out before it); a failure is the first round's to retry.
        if let Err(e) = self.follow_shared_pauses(ORCHESTRATOR_WAIT) {
            tasker_metrics::log_warn!("tasker-core: reading the shared pauses: {e}");
        }
        let (stop, stopped) = bounded::<()>(0);
        // Pauses only: polled every interval, without a LISTEN connection of its own (every
        // engine of a process would hold one, and be woken by every submission).
        let work = match claimer.settings.max_tasks {
            0 => never(),
            _ => self.store.work_signal().unwrap_or_else(never),
        };
        let ended = self.task_ended.clone();
        let thread = std::thread::Builder::new()
            .name("tasker-claims".into())
            .spawn(move || claimer.run(&stopped, &work, &ended))
            .map_err(|e| {
                TaskerError::Orchestration(format!("cannot spawn the claiming thread: {e}"))
            })?;
        *claiming = Some(ClaimLoop { stop, thread });
        Ok(true)
    }

    /// Stops the claiming thread, if any, and waits for it (the first step of `stop`, and
    /// of a binding's graceful stop before its pools drain).
    pub fn stop_claiming(&self) {
        if let Some(claiming) = self.claiming.lock().take() {
            claiming.stop();
        }
    }
}

/// What a round of claiming found, which says what may wake the next one.
enum Look {
    /// It claimed as many as it asked for: more may be waiting, look again at once.
    Full,
    /// It claimed fewer (or none): nothing else is waiting until the store announces work
    /// or the interval passes (a process may have died). A task of this engine ending
    /// changes nothing, so it does not wake the next look (idle, one look per finished
    /// task would be two statements per task).
    Drained,
    /// It did not look, for lack of room: a task of this engine ending may make some.
    NoRoom,
}

impl Claimer {
    fn run(&self, stopped: &Receiver<()>, work: &Receiver<()>, ended: &Receiver<()>) {
        let mut pause = Duration::ZERO;
        loop {
            select! {
                recv(stopped) -> _ => return,
                default(pause) => {}
            }
            pause = match self.round() {
                Ok(Look::Full) => Duration::ZERO,
                Ok(look) => {
                    let interval = after(self.settings.interval);
                    loop {
                        select! {
                            recv(stopped) -> _ => return,
                            recv(work) -> _ => break,
                            recv(ended) -> _ => if matches!(look, Look::NoRoom) { break },
                            recv(interval) -> _ => break,
                        }
                    }
                    Duration::ZERO
                }
                Err(e) => {
                    tasker_metrics::log_warn!(
                        "tasker-core: claiming work from {}: {e}",
                        self.store.describe()
                    );
                    AFTER_FAILURE
                }
            };
        }
    }

    /// Makes this engine's pauses those the store shares, when they changed since the last
    /// read applied (another process paused or resumed: its NOTIFY woke this round). One
    /// read at a time with the engine's other reads (`pause_reads.rs`).
    fn follow_pauses(&self) -> TaskerResult<()> {
        self.pause_reads
            .follow(
                true,
                || super::pausing::shared_pauses(self.store.as_ref()),
                |all| {
                    let (tx, rx) = bounded(1);
                    self.orchestrator.do_send(SetPaused {
                        change: None,
                        all,
                        reply: tx,
                    });
                    await_reply(&rx, ORCHESTRATOR_WAIT, "following the shared pauses")
                },
            )
            .map(drop)
    }

    /// Drops what was lost, then claims up to the room left and resumes it.
    fn round(&self) -> TaskerResult<Look> {
        self.store.set_steps_in_flight(self.inflight.len());
        self.follow_pauses()?;
        let lost = self.store.take_lost_tasks();
        if !lost.is_empty() {
            self.orchestrator.do_send(DropTasks(lost));
        }
        if self.settings.max_tasks == 0 {
            // Pauses only: a task ending changes nothing here, so it does not wake a look.
            return Ok(Look::Drained);
        }
        let (tx, rx) = bounded(1);
        self.orchestrator.do_send(CountLive(tx));
        let live = await_reply(&rx, ORCHESTRATOR_WAIT, "counting live tasks")?;
        let room = self.settings.max_tasks.saturating_sub(live);
        // Refill in batches (a quarter of the share at least), unless idle: one claim per
        // finished task would be a statement per task.
        if room == 0 || (live > 0 && room < self.settings.max_tasks.div_ceil(4)) {
            return Ok(Look::NoRoom);
        }
        let claimed = self.store.claim_available(room)?;
        if claimed.is_empty() {
            return Ok(Look::Drained);
        }
        let look = if claimed.len() == room {
            Look::Full
        } else {
            Look::Drained
        };
        let mut report = RecoveryReport::default();
        let tasks = read_claimed(
            self.store.as_ref(),
            &self.registry,
            &self.awaiting,
            claimed,
            &mut report,
        )?;
        for (id, why) in &report.skipped {
            tasker_metrics::log_warn!("tasker-core: claimed task {id}: {why}");
        }
        if !tasks.is_empty() {
            let (tx, rx) = bounded(1);
            self.orchestrator.do_send(Recover { tasks, reply: tx });
            await_reply(&rx, ORCHESTRATOR_WAIT, "resuming claimed tasks")??;
        }
        Ok(look)
    }
}
