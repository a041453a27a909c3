//! The lease fence on shared cap slots (review H2): a process lets a capped step out only
//! while it knows, from a recent read of the store, that its slots are still its own.
//!
//! Why: another process takes a process's slots once that process's heartbeat is older than
//! the lease (it looks dead). A process that stalled that long (SIGSTOP, a long GC pause, a
//! database outage) and then woke used to go on letting steps out on slots it had lost, so
//! the cap was exceeded. Now the broker reads the slots this process owns and how long its
//! lease has left ([`Gate::verified`]); until then no one else can take them, so a capped step
//! may go out before that moment (less a margin) and not after. Past it (a stall, or a store
//! out of reach), capped steps park until a fresh read says which slots are still held;
//! those lost are dropped (slots the store shows that the gate did not know of, from an answer
//! lost with a failed connection, are left alone: one released and taken back by a later
//! trade would be lost under a running step). Steps let out before a stall may still start
//! after it, until the first read after the lapse (even a failed one) pulls queued ones back:
//! see README, "Concurrency limits".
//!
//! This file must not talk to the store (the broker does) nor decide the order of steps.

use super::{Gate, HeldRead};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// After a read that failed, or that showed no lease left (this process was taken for dead
/// and has not beaten since), the wait before the next read: without it the gate asked again
/// at once, a statement after statement for as long as that lasted.
pub const READ_AGAIN: Duration = Duration::from_millis(100);

/// The part of the lease left that the gate relies on (clocks of the host and the database
/// may run at slightly different rates; a statement takes time to reach the database).
const TRUSTED: f64 = 0.8;

/// How far the gate trusts its slots.
#[derive(Debug, Default)]
pub(super) struct Fence {
    /// Slots read as held until this moment; `None` before the first read.
    until: Option<Instant>,
    /// How long the last read granted: a new read is asked for once less than half is left,
    /// so a flow of capped steps does not wait for one.
    granted: Duration,
    /// A read is wanted (sent with the next trade).
    due: bool,
    /// A read is on its way (no second one meanwhile).
    asked: bool,
    /// No read before this moment (after one that failed or showed no lease, [`READ_AGAIN`]).
    not_before: Option<Instant>,
    /// The steps queued for workers were pulled back since the last read lapsed
    /// ([`Gate::lapsed_unseen`]).
    pulled_back: bool,
}

impl Fence {
    /// Whether a read is wanted, not asked yet, and not held back by [`READ_AGAIN`].
    fn read_wanted(&self) -> bool {
        self.due && !self.asked && self.not_before.is_none_or(|t| Instant::now() >= t)
    }
}

impl Gate {
    /// Lets capped steps out only on slots a read of the store showed still held (see the
    /// module documentation). With [`Gate::share_caps`], before any step is held.
    pub fn fence_slots(&mut self) {
        self.fence = Some(Fence::default());
    }

    /// Whether capped steps may go out now on the slots held (always, without a fence). Asks
    /// for a read when the last one is running out.
    pub(super) fn fence_holds(&mut self) -> bool {
        let Some(f) = &mut self.fence else {
            return true;
        };
        let now = Instant::now();
        let left = f
            .until
            .map_or(Duration::ZERO, |u| u.saturating_duration_since(now));
        if left < f.granted / 2 || left.is_zero() {
            f.due = true;
        }
        !left.is_zero()
    }

    /// The wait after a failed or lease-less read is over (the orchestrator's timer of
    /// [`READ_AGAIN`]): the next trade may read again.
    pub fn read_again(&mut self) {
        if let Some(f) = &mut self.fence {
            f.not_before = None;
        }
    }

    /// Whether the last read has lapsed and this was not asked since it lapsed: true once
    /// per lapse. A read that fails then (the database out of reach of this process only)
    /// says nothing about the slots, so capped steps queued for workers and not yet taken
    /// must be pulled back to wait (the orchestrator does), as after a read that shows
    /// slots lost; otherwise they kept going to workers until the queue drained.
    pub fn lapsed_unseen(&mut self) -> bool {
        let Some(f) = &mut self.fence else {
            return false;
        };
        let lapsed = f.until.is_some_and(|u| Instant::now() >= u);
        if !lapsed || f.pulled_back {
            return false;
        }
        f.pulled_back = true;
        true
    }

    /// Whether the next trade should read the slots held; marks the read as asked.
    pub(super) fn take_fence_read(&mut self) -> bool {
        match &mut self.fence {
            Some(f) if f.read_wanted() => {
                f.due = false;
                f.asked = true;
                f.not_before = None;
                true
            }
            _ => false,
        }
    }

    /// Whether a read of the slots is wanted and not yet asked.
    pub(super) fn fence_due(&self) -> bool {
        self.fence.as_ref().is_some_and(Fence::read_wanted)
    }

    /// The broker read the slots the store says this process holds, `held`, in a statement
    /// sent at `sent`, with `left` of its lease to run; `None` when the read failed (asked
    /// again with the next trade after [`READ_AGAIN`], as is a read that shows no lease
    /// left: the caller refills then). Slots the gate had and the store does not are lost
    /// (taken by another process after a stall): dropped, so fewer steps go out. Returns
    /// whether any was lost.
    pub fn verified(&mut self, read: Option<HeldRead>) -> bool {
        let Some(f) = &mut self.fence else {
            return false;
        };
        f.asked = false;
        let again = Instant::now() + READ_AGAIN;
        let Some((held, sent, left)) = read else {
            f.due = true;
            f.not_before = Some(again);
            return false;
        };
        f.due = false;
        f.pulled_back = false;
        if left.is_zero() {
            f.not_before = Some(again);
        }
        f.granted = left.mul_f64(TRUSTED);
        f.until = Some(sent + f.granted);
        let Some(slots) = &mut self.slots else {
            return false;
        };
        let store: HashSet<(Arc<str>, i32)> = held.into_iter().collect();
        let mut lost = false;
        for (name, mine) in slots.iter_mut() {
            mine.retain(|&slot| {
                let kept = store.contains(&(name.clone(), slot));
                lost |= !kept;
                kept
            });
        }
        slots.retain(|_, mine| !mine.is_empty());
        let parked: Vec<Arc<str>> = self.parked_capped.keys().cloned().collect();
        for name in parked {
            if !self.asked.contains(&name) {
                self.want_more(&name);
            }
        }
        lost
    }
}

/// Slots as the gate keeps them (cap → slot numbers), for tests.
#[cfg(test)]
pub(super) fn held_slots(g: &Gate) -> std::collections::HashMap<Arc<str>, Vec<i32>> {
    g.slots.clone().unwrap_or_default()
}
