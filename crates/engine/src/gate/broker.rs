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
use std::time::Duration;
use tasker_state::Store;

/// What one trade asks of the store: slots handed back, and per cap `(name, limit, more)`.
#[derive(Debug, Default)]
pub struct CapTrade {
    pub release: Vec<(Arc<str>, i32)>,
    pub want: Vec<(Arc<str>, u32, u32)>,
}

impl CapTrade {
    /// Nothing to hand back, nothing asked.
    pub fn is_empty(&self) -> bool {
        self.release.is_empty() && self.want.is_empty()
    }
}

/// Receives a trade's answer: the caps asked for, and the slots got (maybe none).
pub type Deliver = Box<dyn Fn(Vec<Arc<str>>, Vec<(Arc<str>, i32)>) + Send>;

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
                            eprintln!("tasker-core: concurrency caps: {e} (tried again)");
                            unreturned = trade.release;
                            Vec::new()
                        }
                    };
                    if !asked.is_empty() {
                        deliver(asked, got);
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
