//! The gate's side of caps shared by several processes (PostgreSQL): which slots this process
//! holds, what to ask the store for and what to hand back ([`Gate::trade`], answered by
//! [`Gate::granted`]), and moving parked steps back to their lanes when their cap has room
//! (the last also for caps counted in one process). The rules are in the module
//! documentation of `gate/mod.rs`; this file must not talk to the store (the broker thread
//! does) nor decide the order steps go out in (`Gate::release` does).

use super::{CapTrade, Gate};
use std::collections::HashMap;
use std::sync::Arc;

impl Gate {
    /// Counts caps across processes from now on: a step goes out only on slots this
    /// process holds (see the module documentation). Before any step is held.
    pub fn share_caps(&mut self) {
        self.slots = Some(HashMap::new());
    }

    /// How many of cap `name` (limited to `limit`) may be out from this process now.
    pub(super) fn allowed(&self, name: &Arc<str>, limit: u32) -> u32 {
        match &self.slots {
            None => limit,
            Some(slots) => slots.get(name).map_or(0, |s| s.len() as u32),
        }
    }

    /// What to trade with the store now: slots to hand back, and for each cap a step waits
    /// on, how many more slots (within its limit). Empty when caps are not shared or there
    /// is nothing to trade. The caps asked for are not asked again until
    /// [`Gate::granted`] or [`Gate::ask_again`].
    pub fn trade(&mut self) -> CapTrade {
        let mut trade = CapTrade::default();
        if !self.trade_due() {
            return trade;
        }
        for name in std::mem::take(&mut self.settle) {
            self.return_surplus(&name);
        }
        trade.verify = self.take_fence_read();
        trade.release = std::mem::take(&mut self.returns);
        for (name, limit) in std::mem::take(&mut self.wants) {
            let parked = self.parked_capped.get(&name).map_or(0, |p| p.len()) as u32;
            let more = parked.min(limit.saturating_sub(self.allowed(&name, limit)));
            if more > 0 && self.asked.insert(name.clone()) {
                trade.want.push((name, limit, more));
            }
        }
        trade
    }

    /// The store granted `got` (slots of caps asked for in `asked`): as many steps parked on
    /// each cap move back to their lanes. Caps of `asked` that got nothing stay asked until
    /// [`Gate::ask_again`] (the orchestrator waits a moment before asking again); returns them.
    pub fn granted(&mut self, asked: &[Arc<str>], got: Vec<(Arc<str>, i32)>) -> Vec<Arc<str>> {
        let Some(slots) = &mut self.slots else {
            return Vec::new();
        };
        let mut fresh: HashMap<Arc<str>, usize> = HashMap::new();
        for (name, slot) in got {
            slots.entry(name.clone()).or_default().push(slot);
            *fresh.entry(name).or_default() += 1;
        }
        let mut empty = Vec::new();
        for name in asked {
            let Some(&n) = fresh.get(name) else {
                empty.push(name.clone());
                continue;
            };
            self.asked.remove(name);
            self.unpark(name, n as u32);
            self.want_more(name);
        }
        // A slot nobody here waits for any more goes back with the next trade.
        self.settle.extend(fresh.into_keys());
        empty
    }

    /// Caps that got no slot at the last ask may be asked for again (another process may
    /// have handed some back since).
    pub fn ask_again(&mut self, caps: &[Arc<str>]) {
        for name in caps {
            self.asked.remove(name);
            self.want_more(name);
        }
    }

    /// Steps still parked on cap `name` want more of its slots (asked at the next trade).
    pub(super) fn want_more(&mut self, name: &Arc<str>) {
        let limit = self
            .parked_capped
            .get(name)
            .and_then(|p| p.peek())
            .and_then(|h| h.caps.iter().find(|(n, _)| n == name));
        if let Some((_, limit)) = limit {
            self.wants.insert(name.clone(), *limit);
        }
    }

    /// Moves up to `room` steps parked on cap `name` back to their lanes. A parked step whose
    /// task was cancelled or finished meanwhile (stale) is dropped without using up room: had
    /// it taken the room, the next parked step would wait for a finish that may never come.
    pub(super) fn unpark(&mut self, name: &Arc<str>, room: u32) {
        if let Some(parked) = self.parked_capped.get_mut(name) {
            let mut moved = 0;
            while moved < room {
                let Some(h) = parked.pop() else {
                    break;
                };
                if self.slots.is_some() {
                    for (cap, _) in h.caps.iter().take_while(|(c, _)| c != name) {
                        if let Some(n) = self.passed.get_mut(cap) {
                            *n -= 1;
                            if *n == 0 {
                                self.passed.remove(cap);
                            }
                        }
                        self.settle.insert(cap.clone());
                    }
                }
                if self.held.get(&h.at()) == Some(&h.seq) {
                    self.lanes[h.lane].push(h);
                    moved += 1;
                }
            }
            if parked.is_empty() {
                self.parked_capped.remove(name);
            }
        }
    }

    /// Steps parked on a cap that has room again go back to their lanes. Room is handed to
    /// parked steps when a step of the cap finishes, but the step unparked then may not take
    /// it (it is paused, or parks on another of its caps); without this the rest would wait
    /// beside a free slot until another step of that cap happened to finish. Nothing to do
    /// (one emptiness check) when nothing is parked.
    pub(super) fn unpark_where_room(&mut self) {
        if self.parked_capped.is_empty() {
            return;
        }
        let rooms: Vec<(Arc<str>, u32)> = self
            .parked_capped
            .iter()
            .filter_map(|(name, parked)| {
                let limit = parked
                    .peek()
                    .and_then(|h| h.caps.iter().find(|(n, _)| n == name))
                    .map(|(_, limit)| *limit)?;
                let running = self.running.get(name).copied().unwrap_or(0);
                let allowed = self.allowed(name, limit);
                (running < allowed).then(|| (name.clone(), allowed - running))
            })
            .collect();
        for (name, room) in rooms {
            self.unpark(&name, room);
        }
    }

    /// Hands back the slots of cap `name` this process holds beyond those its steps use or
    /// wait for: one per step out, parked on it, or parked on a later cap having passed it.
    /// (Keeping every slot while one step waited let one process hold a whole cap while
    /// a single step of its own needed one: review M4.)
    pub(super) fn return_surplus(&mut self, name: &Arc<str>) {
        let waiting = self.parked_capped.get(name).map_or(0, |p| p.len())
            + self.passed.get(name).copied().unwrap_or(0) as usize;
        let Some(slots) = self.slots.as_mut().and_then(|s| s.get_mut(name)) else {
            return;
        };
        let out = self.running.get(name).copied().unwrap_or(0) as usize + waiting;
        while slots.len() > out {
            let slot = slots.pop().expect("longer than out");
            self.returns.push((name.clone(), slot));
        }
        if slots.is_empty() {
            self.slots.as_mut().expect("shared").remove(name);
        }
    }

    /// Whether a trade with the store is due ([`Gate::trade`] has something to send).
    pub fn trade_due(&self) -> bool {
        self.slots.is_some()
            && !(self.wants.is_empty()
                && self.returns.is_empty()
                && self.settle.is_empty()
                && !self.fence_due())
    }
}
