//! The event-bus actor: fan-out to bounded subscriber channels.
//!
//! Events reach the bus once the transitions they describe are committed (the engine hands
//! them over after the store's commit) and the bus `try_send`s to each matching subscriber.
//! A full subscriber loses events under its [`Overflow`] policy: the loss is counted, and
//! the subscriber receives a [`Delivery::Gap`] saying how many it missed where they were
//! missed, so nothing is lost silently and the engine never waits.

use crate::event::Event;
use crate::interest::Interest;
use crate::pattern::Pattern;
use actix::prelude::*;
use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

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

/// What happens to an event when a subscriber's buffer is full. Neither policy ever makes
/// the engine wait; both count the loss and report it with a [`Delivery::Gap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Keep what is buffered and drop the new event (the subscriber sees the oldest events).
    #[default]
    DropNewest,
    /// Drop the oldest half of the buffer to make room (the subscriber sees the newest).
    DropOldest,
}

impl Overflow {
    /// Parses `drop_newest` / `drop_oldest`.
    pub fn parse(name: &str) -> Result<Overflow, String> {
        match name {
            "drop_newest" => Ok(Overflow::DropNewest),
            "drop_oldest" => Ok(Overflow::DropOldest),
            other => Err(format!(
                "overflow policy {other:?}: expected drop_newest or drop_oldest"
            )),
        }
    }
}

/// Per-subscriber counters, shared with whoever holds the [`Subscription`].
#[derive(Debug, Default)]
pub struct SubscriberStats {
    /// Events put into the subscriber's buffer.
    pub delivered: AtomicU64,
    /// Events lost to a full buffer (after being delivered, for `DropOldest`).
    pub dropped: AtomicU64,
}

/// A subscriber's receiving end. Dropping it unsubscribes at the next publication.
pub struct Subscription {
    pub id: u64,
    pub receiver: Receiver<Delivery>,
    pub stats: Arc<SubscriberStats>,
}

impl Subscription {
    /// Deliveries waiting in the buffer: how far the subscriber is behind.
    pub fn lag(&self) -> usize {
        self.receiver.len()
    }
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
    /// For `DropOldest`: the bus takes the oldest deliveries out through it.
    evictor: Option<Receiver<Delivery>>,
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
    evictor: Option<Receiver<Delivery>>,
    stats: Arc<SubscriberStats>,
    missed_since_gap: u64,
}

impl Subscriber {
    /// Offers one event; returns false when the receiver is gone.
    fn offer(&mut self, event: &Arc<Event>) -> bool {
        if self.evictor.is_some() {
            return self.offer_evicting(event);
        }
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

    /// `DropOldest`: when the buffer is full, takes everything out, drops the oldest half
    /// and puts back one gap (the dropped count, an earlier gap folded in) followed by the
    /// rest, then the new event. Dropping half at a time keeps the cost per event constant
    /// on average; the bus is the only sender, and the subscriber only ever takes from the
    /// front, so the order it reads stays the order of publication.
    fn offer_evicting(&mut self, event: &Arc<Event>) -> bool {
        // The bus holds a receiver too, so a dropped Subscription does not disconnect the
        // channel: the shared counters tell instead.
        if Arc::strong_count(&self.stats) == 1 {
            return false;
        }
        let evictor = self.evictor.as_ref().expect("DropOldest");
        if self.sender.is_full() {
            let mut buffered: Vec<Delivery> = evictor.try_iter().collect();
            let drop_count = buffered.len().div_ceil(2);
            let mut missed = 0;
            for d in buffered.drain(..drop_count) {
                match d {
                    Delivery::Event(_) => {
                        missed += 1;
                        self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    Delivery::Gap { missed: m } => missed += m,
                }
            }
            if missed > 0 {
                buffered.insert(0, Delivery::Gap { missed });
            }
            for d in buffered {
                let _ = self.sender.try_send(d);
            }
        }
        match self.sender.try_send(Delivery::Event(event.clone())) {
            Ok(()) => {
                self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Full(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

/// How soon the bus tries again to tell a full subscriber what it missed when no new event
/// comes to carry the gap.
const GAP_RETRY: Duration = Duration::from_millis(10);

/// See the module documentation.
pub struct EventBus {
    subscribers: Vec<Subscriber>,
    /// A retry of pending gaps is scheduled.
    gap_retry_armed: bool,
    /// Shared with the publisher so it can skip building events nobody will receive.
    interest: Arc<Interest>,
}

impl EventBus {
    /// A bus whose subscribers' patterns are counted in `interest`.
    pub fn new(interest: Arc<Interest>) -> EventBus {
        EventBus {
            subscribers: Vec::new(),
            gap_retry_armed: false,
            interest,
        }
    }

    /// Builds a subscription and the message that registers it. `interest` is raised at once
    /// so events published after this call are built for the new subscriber.
    pub fn subscription(
        id: u64,
        pattern: Pattern,
        capacity: usize,
        overflow: Overflow,
        interest: &Interest,
    ) -> (Subscribe, Subscription) {
        // DropOldest needs room for a gap and an event besides what it keeps.
        let capacity = capacity.max(if overflow == Overflow::DropOldest {
            4
        } else {
            1
        });
        let (sender, receiver) = bounded(capacity);
        let stats = Arc::new(SubscriberStats::default());
        interest.add(&pattern);
        (
            Subscribe {
                id,
                pattern,
                sender,
                evictor: (overflow == Overflow::DropOldest).then(|| receiver.clone()),
                stats: stats.clone(),
            },
            Subscription {
                id,
                receiver,
                stats,
            },
        )
    }

    /// Keeps trying to hand each subscriber the gap it is owed until it has room, so a loss
    /// is reported even when no later event arrives to carry it.
    fn retry_gaps_later(&mut self, ctx: &mut Context<Self>) {
        if self.gap_retry_armed || self.subscribers.iter().all(|s| s.missed_since_gap == 0) {
            return;
        }
        self.gap_retry_armed = true;
        ctx.run_later(GAP_RETRY, |act, ctx| {
            act.gap_retry_armed = false;
            for s in act
                .subscribers
                .iter_mut()
                .filter(|s| s.missed_since_gap > 0)
            {
                let gap = Delivery::Gap {
                    missed: s.missed_since_gap,
                };
                if s.sender.try_send(gap).is_ok() {
                    s.missed_since_gap = 0;
                }
            }
            act.retry_gaps_later(ctx);
        });
    }

    fn remove_where(&mut self, mut gone: impl FnMut(&Subscriber) -> bool) {
        let interest = self.interest.clone();
        self.subscribers.retain(|s| {
            let remove = gone(s);
            if remove {
                interest.remove(&s.pattern);
            }
            !remove
        });
    }
}

impl Actor for EventBus {
    type Context = Context<Self>;
}

impl Handler<Publish> for EventBus {
    type Result = ();

    fn handle(&mut self, msg: Publish, ctx: &mut Self::Context) {
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
        self.retry_gaps_later(ctx);
    }
}

impl Handler<Subscribe> for EventBus {
    type Result = ();

    fn handle(&mut self, msg: Subscribe, _ctx: &mut Self::Context) {
        self.subscribers.push(Subscriber {
            id: msg.id,
            pattern: msg.pattern,
            sender: msg.sender,
            evictor: msg.evictor,
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

    /// Everything waiting for `sub`, each event as `label` writes it and each gap as
    /// `gap N`.
    fn drain(sub: &Subscription, label: fn(&Event) -> String) -> Vec<String> {
        sub.receiver
            .try_iter()
            .map(|d| match d {
                Delivery::Event(e) => label(&e),
                Delivery::Gap { missed } => format!("gap {missed}"),
            })
            .collect()
    }

    #[actix_rt::test]
    async fn delivers_matching_events_in_order_and_reports_gaps() {
        let active = Arc::new(Interest::default());
        let bus = EventBus::new(active.clone()).start();
        let (sub_msg, sub) = EventBus::subscription(
            1,
            Pattern::parse("task.*").unwrap(),
            2,
            Overflow::DropNewest,
            &active,
        );
        bus.send(sub_msg).await.unwrap();
        assert_eq!(active.subscribers(), 1);
        bus.send(Publish(vec![
            ev(LifecycleEvent::TaskStartRequested, 1),
            ev(LifecycleEvent::StepCompleted, 1),
            ev(LifecycleEvent::TaskCompleted, 1),
            ev(LifecycleEvent::TaskCompleted, 2),
            ev(LifecycleEvent::TaskCompleted, 3),
        ]))
        .await
        .unwrap();
        let names = drain(&sub, |e| format!("{}#{}", e.name(), e.task_id));
        assert_eq!(names, vec!["task.start_requested#1", "task.completed#1"]);
        assert_eq!(sub.stats.dropped.load(Ordering::Relaxed), 2);
        bus.send(Publish(vec![ev(LifecycleEvent::TaskFailed, 4)]))
            .await
            .unwrap();
        let next = drain(&sub, |e| e.name().to_string());
        assert_eq!(next, vec!["gap 2", "task.failed"]);
        drop(sub);
        bus.send(Publish(vec![ev(LifecycleEvent::TaskFailed, 5)]))
            .await
            .unwrap();
        assert_eq!(active.subscribers(), 0, "a dropped subscription is removed");
    }

    #[actix_rt::test]
    async fn drop_oldest_keeps_the_newest_and_counts_what_it_evicted() {
        let active = Arc::new(Interest::default());
        let bus = EventBus::new(active.clone()).start();
        let (sub_msg, sub) =
            EventBus::subscription(1, Pattern::All, 4, Overflow::DropOldest, &active);
        bus.send(sub_msg).await.unwrap();
        let events = (1..=10)
            .map(|i| ev(LifecycleEvent::TaskCompleted, i))
            .collect();
        bus.send(Publish(events)).await.unwrap();
        let got = drain(&sub, |e| e.task_id.to_string());
        assert_eq!(got.first().map(String::as_str), Some("gap 7"), "{got:?}");
        assert_eq!(&got[1..], &["8", "9", "10"]);
        assert_eq!(sub.stats.dropped.load(Ordering::Relaxed), 7);
        assert_eq!(sub.stats.delivered.load(Ordering::Relaxed), 10);
        drop(sub);
        bus.send(Publish(vec![ev(LifecycleEvent::TaskFailed, 11)]))
            .await
            .unwrap();
        assert_eq!(active.subscribers(), 0, "a dropped subscription is removed");
    }
}
