//! Live health: how many tasks and steps are in each state right now, without a query.
//!
//! This crate owns the counters behind `TaskerCore::Insights::SystemHealthCounts.current`.
//! They move with every batch the store commits (the state actor hands each batch to
//! [`LiveHealth::prepare`] before committing it and applies the result only once it
//! committed), so reading them is a handful of atomic loads. It must not query the store
//! (history is the store's: `tasker_state::insights`), block, or know about Ruby.
//!
//! # Layout
//! - [`live_health`]: [`LiveHealth`], the counters and the per-step facts they need (retry
//!   limits, which error steps are exhausted), bounded by the work in flight, not the work
//!   done. A reading is a `tasker_state::HealthCounts`, the one type for health counts
//!   whether they come from these counters or from a query.

pub(crate) mod live_health;

pub use live_health::{HealthObserver, HealthUpdate, LiveHealth};
