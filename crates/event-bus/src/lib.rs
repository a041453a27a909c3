//! Lifecycle and custom events, and their fan-out.
//!
//! This crate owns what an event is and how it reaches subscribers; it must not decide when
//! an event happens (the orchestrator publishes at the moment of the transition), and it must
//! never block: a full subscriber loses events, counted, and is told so with a gap.
//!
//! # Layout
//! - `event`: [`Event`], its name ([`LifecycleEvent`] or custom) and its JSON context.
//! - `pattern`: subscription patterns (`*`, `step.*`, `task.completed`).
//! - `interest`: which kinds of events any subscriber wants, so only those are built.
//! - `bus`: [`EventBus`], the actor, and [`Subscription`], a subscriber's receiving end.

pub(crate) mod bus;
pub(crate) mod event;
pub(crate) mod interest;
pub(crate) mod pattern;

pub use bus::{
    Delivery, EventBus, Overflow, Publish, Subscribe, SubscriberStats, Subscription, Unsubscribe,
};
pub use event::{Event, EventName, LifecycleEvent};
pub use interest::{EventMask, Interest};
pub use pattern::Pattern;
