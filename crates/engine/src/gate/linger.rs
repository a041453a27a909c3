//! Caps held past the engine's interest in a step (review M6): when the engine stops waiting
//! for an attempt that counts against caps (its timeout passed, its task was cancelled or
//! resolved by hand, the step was marked complete by hand), its handler may still be
//! running, so its caps stay counted until that handler returns (its late report, which the
//! engine ignores for the result, frees them: [`Gate::returned`]) or, when it never does,
//! until a bounded time has passed (the orchestrator's timer, [`linger_limit`]).
//!
//! Without this, a handler that was slow to unwind a timeout interrupt (or an abandoned
//! Ractor, or the handler of a cancelled task) and a new step of the same cap ran together,
//! so the cap was exceeded. This file must not talk to the store nor decide the order in
//! which steps go out; it only moves an attempt's caps from "reported when its handler
//! reports" to "reported when its handler returns".

use super::Gate;
use crate::inflight::InflightStep;
use std::time::Duration;

/// The least time an attempt the engine stopped waiting for keeps its caps when its handler
/// does not return: a step's timeout can be far shorter than a handler takes to unwind an
/// interrupt (its `ensure` blocks), and a cancelled task's step has no deadline at all. Past
/// the limit the cap is freed, so one lost handler cannot block a cap for the life of the
/// process.
pub const LINGER_AT_LEAST: Duration = Duration::from_secs(60);

/// How long an attempt the engine stopped waiting for keeps its caps at most when its
/// handler does not return: its step's timeout again (a handler interrupted at its deadline
/// gets as long again to unwind), and at least [`LINGER_AT_LEAST`].
pub fn linger_limit(timeout: Option<Duration>) -> Duration {
    timeout.map_or(LINGER_AT_LEAST, |t| t.max(LINGER_AT_LEAST))
}

impl Gate {
    /// Whether attempt `at`, let out of the gate, still counts against caps (it was
    /// let out with caps and neither reported nor stopped being waited for).
    pub fn holds_caps(&self, at: &InflightStep) -> bool {
        !self.holding.is_empty() && self.holding.contains_key(at)
    }

    /// The engine stopped waiting for attempt `at` but its handler may still run: its caps
    /// stay counted until [`Gate::returned`] with the token returned here (`None`: `at`
    /// held no caps, nothing changed).
    pub fn linger(&mut self, at: InflightStep) -> Option<u64> {
        let caps = self.holding.remove(&at)?;
        self.seq += 1;
        // An in-flight key names one hand-out (its attempt id never repeats), so one lingers
        // at most once; a list still, so each lingering keeps its own caps until freed.
        self.lingering.entry(at).or_default().push((caps, self.seq));
        Some(self.seq)
    }

    /// The handler of attempt `at`, which the engine stopped waiting for, returned (its
    /// late report came), or the time it may keep its caps ran out (`token`, from
    /// [`Gate::linger`]: a timer frees only its own lingering, one already freed changes
    /// nothing). A returned handler frees the oldest lingering of `at` (there is one: a
    /// hand-out's id never repeats). Its caps are free. Returns whether it was lingering.
    pub fn returned(&mut self, at: InflightStep, token: Option<u64>) -> bool {
        let Some(entries) = self.lingering.get_mut(&at) else {
            return false;
        };
        let Some(i) = entries
            .iter()
            .position(|(_, t)| token.is_none_or(|token| token == *t))
        else {
            return false;
        };
        let (caps, _) = entries.remove(i);
        if entries.is_empty() {
            self.lingering.remove(&at);
        }
        self.free_caps(caps);
        true
    }

    /// Whether attempt `at` is one whose handler the engine stopped waiting for and whose
    /// caps are still counted.
    #[cfg(test)]
    pub fn lingers(&self, at: &InflightStep) -> bool {
        !self.lingering.is_empty() && self.lingering.contains_key(at)
    }
}
