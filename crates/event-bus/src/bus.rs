//! The event-bus actor: fan-out to bounded subscriber channels.
//!
//! The orchestrator publishes with `do_send` and moves on; the bus `try_send`s to each
//! matching subscriber. A full subscriber loses the event: the loss is counted, and before
//! its next delivered event the subscriber receives a [`Delivery::Gap`] saying how many it
//! missed, so nothing is lost silently and the engine never waits.

use crate::event::Event;
use crate::pattern::Pattern;
use actix::prelude::*;
use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// What a subscriber receives.
#[derive(Debug, Clone)]
pub enum Delivery {
    Event(Arc<Event>),
    /// `missed` events matching the subscriber's pattern were dropped because its buffer was
    /// full.
    Gap {
        missed: u64,
    },
}

/// Per-subscriber counters, shared with whoever holds the [`Subscription`].
#[derive(Debug, Default)]
pub struct SubscriberStats {
    pub delivered: AtomicU64,
    pub dropped: AtomicU64,
}

/// A subscriber's receiving end. Dropping it unsubscribes at the next publication.
pub struct Subscription {
    pub id: u64,
    pub receiver: Receiver<Delivery>,
    pub stats: Arc<SubscriberStats>,
}

/// Events to fan out, in order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish(pub Vec<Event>);

/// Registers a subscriber (built by [`EventBus::subscription`]).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe {
    id: u64,
    pattern: Pattern,
    sender: Sender<Delivery>,
    stats: Arc<SubscriberStats>,
}

/// Removes a subscriber.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe(pub u64);

struct Subscriber {
    id: u64,
    pattern: Pattern,
    sender: Sender<Delivery>,
    stats: Arc<SubscriberStats>,
    missed_since_gap: u64,
}

impl Subscriber {
    /// Offers one event; returns false when the receiver is gone.
    fn offer(&mut self, event: &Arc<Event>) -> bool {
        if self.missed_since_gap > 0 {
            match self.sender.try_send(Delivery::Gap {
                missed: self.missed_since_gap,
            }) {
                Ok(()) => self.missed_since_gap = 0,
                Err(TrySendError::Full(_)) => {
                    self.missed_since_gap += 1;
                    self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                Err(TrySendError::Disconnected(_)) => return false,
            }
        }
        match self.sender.try_send(Delivery::Event(event.clone())) {
            Ok(()) => {
                self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Full(_)) => {
                self.missed_since_gap += 1;
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

/// See the module documentation.
pub struct EventBus {
    subscribers: Vec<Subscriber>,
    /// Shared with the publisher so it can skip building events nobody will receive.
    active: Arc<AtomicUsize>,
}

impl EventBus {
    /// A bus whose live subscriber count is mirrored in `active`.
    pub fn new(active: Arc<AtomicUsize>) -> EventBus {
        EventBus {
            subscribers: Vec::new(),
            active,
        }
    }

    /// Builds a subscription and the message that registers it. `active` is raised at once
    /// so events published after this call are built for the new subscriber.
    pub fn subscription(
        id: u64,
        pattern: Pattern,
        capacity: usize,
        active: &AtomicUsize,
    ) -> (Subscribe, Subscription) {
        let (sender, receiver) = bounded(capacity.max(1));
        let stats = Arc::new(SubscriberStats::default());
        active.fetch_add(1, Ordering::SeqCst);
        (
            Subscribe {
                id,
                pattern,
                sender,
                stats: stats.clone(),
            },
            Subscription {
                id,
                receiver,
                stats,
            },
        )
    }

    fn remove_where(&mut self, mut gone: impl FnMut(&Subscriber) -> bool) {
        let before = self.subscribers.len();
        self.subscribers.retain(|s| !gone(s));
        let removed = before - self.subscribers.len();
        if removed > 0 {
            self.active.fetch_sub(removed, Ordering::SeqCst);
        }
    }
}

impl Actor for EventBus {
    type Context = Context<Self>;
}

impl Handler<Publish> for EventBus {
    type Result = ();

    fn handle(&mut self, msg: Publish, _ctx: &mut Self::Context) {
        let mut disconnected = Vec::new();
        for event in msg.0 {
            let event = Arc::new(event);
            let name = event.name();
            for s in self.subscribers.iter_mut() {
                if s.pattern.matches(name) && !s.offer(&event) {
                    disconnected.push(s.id);
                }
            }
        }
        if !disconnected.is_empty() {
            self.remove_where(|s| disconnected.contains(&s.id));
        }
    }
}

impl Handler<Subscribe> for EventBus {
    type Result = ();

    fn handle(&mut self, msg: Subscribe, _ctx: &mut Self::Context) {
        self.subscribers.push(Subscriber {
            id: msg.id,
            pattern: msg.pattern,
            sender: msg.sender,
            stats: msg.stats,
            missed_since_gap: 0,
        });
    }
}

impl Handler<Unsubscribe> for EventBus {
    type Result = ();

    fn handle(&mut self, msg: Unsubscribe, _ctx: &mut Self::Context) {
        self.remove_where(|s| s.id == msg.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::LifecycleEvent;
    use tasker_model::TaskId;

    fn ev(name: LifecycleEvent, task: i64) -> Event {
        Event::task(name, TaskId(task), Arc::from("t"), Arc::from("ns"))
    }

    #[actix_rt::test]
    async fn delivers_matching_events_in_order_and_reports_gaps() {
        let active = Arc::new(AtomicUsize::new(0));
        let bus = EventBus::new(active.clone()).start();
        let (sub_msg, sub) =
            EventBus::subscription(1, Pattern::parse("task.*").unwrap(), 2, &active);
        bus.send(sub_msg).await.unwrap();
        assert_eq!(active.load(Ordering::SeqCst), 1);
        bus.send(Publish(vec![
            ev(LifecycleEvent::TaskStartRequested, 1),
            ev(LifecycleEvent::StepCompleted, 1),
            ev(LifecycleEvent::TaskCompleted, 1),
            ev(LifecycleEvent::TaskCompleted, 2),
            ev(LifecycleEvent::TaskCompleted, 3),
        ]))
        .await
        .unwrap();
        let names: Vec<String> = sub
            .receiver
            .try_iter()
            .map(|d| match d {
                Delivery::Event(e) => format!("{}#{}", e.name(), e.task_id),
                Delivery::Gap { missed } => format!("gap {missed}"),
            })
            .collect();
        assert_eq!(names, vec!["task.start_requested#1", "task.completed#1"]);
        assert_eq!(sub.stats.dropped.load(Ordering::Relaxed), 2);
        bus.send(Publish(vec![ev(LifecycleEvent::TaskFailed, 4)]))
            .await
            .unwrap();
        let next: Vec<String> = sub
            .receiver
            .try_iter()
            .map(|d| match d {
                Delivery::Event(e) => e.name().to_string(),
                Delivery::Gap { missed } => format!("gap {missed}"),
            })
            .collect();
        assert_eq!(next, vec!["gap 2", "task.failed"]);
        drop(sub);
        bus.send(Publish(vec![ev(LifecycleEvent::TaskFailed, 5)]))
            .await
            .unwrap();
        assert_eq!(
            active.load(Ordering::SeqCst),
            0,
            "a dropped subscription is removed"
        );
    }
}
