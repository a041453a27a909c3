//! The thread that trades cap slots with a store several processes share (PostgreSQL), for
//! the gate of one engine: it hands back the slots the gate no longer needs and asks for
//! those its parked steps wait on, one trade at a time, merging whatever queued up
//! meanwhile, so a gate that releases many steps at once costs one round trip, not one per
//! step. Why a thread: a trade is a database round trip, and the orchestrator's actor must
//! never wait on the database.
//!
//! It must not decide which step gets a slot (the gate does) nor touch the orchestrator's
//! state: answers go through `deliver`.

use crossbeam_channel::{unbounded, RecvTimeoutError, Sender};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tasker_state::Store;

/// What one trade asks of the store: slots handed back, and per cap `(name, limit, more)`.
#[derive(Debug, Default)]
pub struct CapTrade {
    pub release: Vec<(Arc<str>, i32)>,
    pub want: Vec<(Arc<str>, u32, u32)>,
    /// Read afterwards which slots the store says this process holds (`gate/fence.rs`).
    pub verify: bool,
}

impl CapTrade {
    /// Nothing to hand back, nothing asked, nothing to read.
    pub fn is_empty(&self) -> bool {
        self.release.is_empty() && self.want.is_empty() && !self.verify
    }
}

/// A read of the slots the store says this process holds: the slots, the moment the read
/// was sent, and the lease the process had left.
pub type HeldRead = (Vec<(Arc<str>, i32)>, Instant, Duration);

/// A trade's answer.
pub enum CapAnswer {
    /// The caps asked for, and the slots got (maybe none).
    Granted(Vec<Arc<str>>, Vec<(Arc<str>, i32)>),
    /// The slots the store says this process holds, the moment the read was sent, and the
    /// lease it had left; `None` when the read failed.
    Held(Option<HeldRead>),
}

/// Receives a trade's answers.
pub type Deliver = Box<dyn Fn(CapAnswer) + Send>;

/// After a failed trade (database unreachable), the wait before the slots it could not hand
/// back are tried again.
const RETRY: Duration = Duration::from_secs(1);

/// The broker thread's inbox; dropping it ends the thread (slots still held stay so until
/// the store closes, which deletes its process row and, by cascade, its slots).
pub struct CapBroker {
    trades: Sender<CapTrade>,
}

impl CapBroker {
    /// Starts the thread on `store`, answering through `deliver`.
    pub fn start(store: Arc<dyn Store>, deliver: Deliver) -> std::io::Result<CapBroker> {
        let (trades, inbox) = unbounded::<CapTrade>();
        std::thread::Builder::new()
            .name("tasker-caps".into())
            .spawn(move || {
                // Slots a failed trade could not hand back: they go with the next one.
                let mut unreturned: Vec<(Arc<str>, i32)> = Vec::new();
                loop {
                    let first = if unreturned.is_empty() {
                        inbox.recv().map_err(|_| RecvTimeoutError::Disconnected)
                    } else {
                        inbox.recv_timeout(RETRY)
                    };
                    let mut trade = match first {
                        Ok(trade) => trade,
                        Err(RecvTimeoutError::Timeout) => CapTrade::default(),
                        Err(RecvTimeoutError::Disconnected) => return,
                    };
                    for more in inbox.try_iter() {
                        trade.release.extend(more.release);
                        trade.want.extend(more.want);
                        trade.verify |= more.verify;
                    }
                    trade.release.append(&mut unreturned);
                    let release: Vec<(String, i32)> = trade
                        .release
                        .iter()
                        .map(|(n, s)| (n.to_string(), *s))
                        .collect();
                    let want: Vec<(String, u32, u32)> = trade
                        .want
                        .iter()
                        .map(|(n, limit, more)| (n.to_string(), *limit, *more))
                        .collect();
                    let asked: Vec<Arc<str>> = trade.want.iter().map(|w| w.0.clone()).collect();
                    let names: HashMap<&str, &Arc<str>> = asked.iter().map(|n| (&**n, n)).collect();
                    let got = match store.trade_cap_slots(&release, &want) {
                        Ok(got) => got
                            .into_iter()
                            .filter_map(|(n, s)| names.get(n.as_str()).map(|&n| (n.clone(), s)))
                            .collect(),
                        Err(e) => {
                            tasker_metrics::log_warn!(
                                "tasker-core: concurrency caps: {e} (tried again)"
                            );
                            unreturned = trade.release;
                            Vec::new()
                        }
                    };
                    if !asked.is_empty() {
                        deliver(CapAnswer::Granted(asked, got));
                    }
                    // After the take, so the slots just got are among those read (and are
                    // delivered before the read).
                    if trade.verify {
                        deliver(CapAnswer::Held(read_held(store.as_ref())));
                    }
                }
            })?;
        Ok(CapBroker { trades })
    }

    /// Queues `trade` (not waiting for it).
    pub fn send(&self, trade: CapTrade) {
        let _ = self.trades.send(trade);
    }
}

/// Reads the slots this process holds and its lease left (`None` on failure, logged).
fn read_held(store: &dyn Store) -> Option<HeldRead> {
    let sent = Instant::now();
    match store.held_cap_slots() {
        Ok((held, left)) => {
            let held = held.into_iter().map(|(n, s)| (Arc::from(n), s)).collect();
            Some((held, sent, left))
        }
        Err(e) => {
            tasker_metrics::log_warn!("tasker-core: concurrency caps: {e} (read again)");
            None
        }
    }
}
