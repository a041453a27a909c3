//! The engine's operational counters and latency histograms, kept in one place.
//!
//! This crate owns how work done is counted and timed and how those numbers read as
//! Prometheus text. The orchestrator, the state actor and the binding all feed the one
//! [`Metrics`] an engine shares with them; `engine.stats` and `engine.metrics_text` read it.
//! It must not depend on any other tasker crate (it sits below the state crate, whose actor
//! feeds it), must not lock or allocate on a recording path, and must not hold tasks' or
//! steps' counts by state: those are health counts (`tasker_state::HealthCounts`, kept live
//! by `tasker-insights`).
//!
//! # Layout
//! - [`histogram`]: [`Histogram`], lock-free power-of-two latency buckets, and its snapshot.
//! - [`metrics`]: [`Metrics`], every counter and histogram of one engine, named once.
//! - [`prometheus`]: the Prometheus text exposition of a reading.
//! - [`log`]: the messages the engine's and the store's threads have for the app's logger,
//!   queued for a Ruby thread to write (`log_warn!` and its siblings); not counters, but
//!   kept here because this crate sits below every crate that has something to say.

pub(crate) mod histogram;
pub mod log;
pub(crate) mod metrics;
pub(crate) mod prometheus;

pub use histogram::{bucket_upper_ns, Histogram, HistogramSnapshot, BUCKETS};
pub use metrics::{Levels, Metrics};
pub use prometheus::{labelled_gauge_text, prometheus_text};
