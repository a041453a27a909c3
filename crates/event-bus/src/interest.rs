//! Which events anyone wants: counted per kind, so the engine builds only events some
//! subscriber will receive (an event costs allocations; most subscribers want a few kinds).

use crate::event::LifecycleEvent;
use crate::pattern::Pattern;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The bit of custom events in an [`EventMask`].
const CUSTOM_BIT: u32 = 1 << LifecycleEvent::ALL.len();

/// A snapshot of the kinds of events wanted: one bit per lifecycle event, one for custom
/// events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EventMask(u32);

impl EventMask {
    /// Every kind (tests, and callers that publish regardless).
    pub const ALL: EventMask = EventMask(u32::MAX);
    /// No kind: nobody subscribes.
    pub const NONE: EventMask = EventMask(0);

    /// Whether anyone wants `event`.
    #[inline]
    pub fn wants(self, event: LifecycleEvent) -> bool {
        self.0 & (1 << event as u32) != 0
    }

    /// Whether anyone may want a custom event.
    #[inline]
    pub fn wants_custom(self) -> bool {
        self.0 & CUSTOM_BIT != 0
    }
}

/// Live counts of subscribers per kind of event. Raised when a subscription is made (before
/// the bus registers it, so no event published afterwards is skipped) and lowered when the
/// bus removes it.
#[derive(Debug, Default)]
pub struct Interest {
    subscribers: AtomicUsize,
    lifecycle: [AtomicUsize; LifecycleEvent::ALL.len()],
    custom: AtomicUsize,
}

impl Interest {
    /// Subscribers registered or being registered.
    pub fn subscribers(&self) -> usize {
        self.subscribers.load(Ordering::Relaxed)
    }

    /// What is wanted now.
    pub fn mask(&self) -> EventMask {
        if self.subscribers.load(Ordering::Relaxed) == 0 {
            return EventMask::NONE;
        }
        let mut bits = 0;
        for (i, count) in self.lifecycle.iter().enumerate() {
            if count.load(Ordering::Relaxed) > 0 {
                bits |= 1 << i;
            }
        }
        if self.custom.load(Ordering::Relaxed) > 0 {
            bits |= CUSTOM_BIT;
        }
        EventMask(bits)
    }

    pub(crate) fn add(&self, pattern: &Pattern) {
        self.change(pattern, |c| {
            c.fetch_add(1, Ordering::SeqCst);
        });
    }

    pub(crate) fn remove(&self, pattern: &Pattern) {
        self.change(pattern, |c| {
            c.fetch_sub(1, Ordering::SeqCst);
        });
    }

    fn change(&self, pattern: &Pattern, apply: impl Fn(&AtomicUsize)) {
        apply(&self.subscribers);
        for (i, event) in LifecycleEvent::ALL.iter().enumerate() {
            if pattern.matches(event.as_str()) {
                apply(&self.lifecycle[i]);
            }
        }
        if pattern.may_match_custom() {
            apply(&self.custom);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_the_patterns() {
        let interest = Interest::default();
        assert_eq!(interest.mask(), EventMask::NONE);
        let tasks = Pattern::parse("task.*").unwrap();
        interest.add(&tasks);
        let mask = interest.mask();
        assert!(mask.wants(LifecycleEvent::TaskCompleted));
        assert!(!mask.wants(LifecycleEvent::StepCompleted));
        assert!(
            mask.wants_custom(),
            "a custom event may be named task.something"
        );
        let exact = Pattern::parse("step.failed").unwrap();
        interest.add(&exact);
        assert!(interest.mask().wants(LifecycleEvent::StepFailed));
        interest.remove(&tasks);
        let mask = interest.mask();
        assert!(!mask.wants(LifecycleEvent::TaskCompleted) && !mask.wants_custom());
        interest.remove(&exact);
        assert_eq!(interest.mask(), EventMask::NONE);
        assert_eq!(interest.subscribers(), 0);
    }
}
