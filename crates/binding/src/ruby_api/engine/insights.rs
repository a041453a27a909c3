//! The numbers of `TaskerCore::Native::Engine`: live `health` counts, `stats` and
//! `metrics_text` (the engine's counters and latency histograms), `add_capacity`, and the
//! stored Insights (`stored_health`, `analytics_metrics`, `slowest`, `processes`), answered by the store
//! in one query each with the GVL released.
//!
//! Pass-throughs only: the engine and the store count and compute; this file converts
//! their answers (views through `helpers::view`, Symbol keys). Must not record or derive
//! a number itself, nor touch running workflows.

use super::Engine;
use crate::helpers::errors::{error, guard};
use crate::helpers::nogvl::blocking;
use crate::helpers::view::{to_ruby, Keys, Pairs};
use magnus::{Error, RArray, Ruby, Value};
use serde::Serialize;
use tasker_model::{TaskerResult, Timestamp};
use tasker_state::insights::SlowQuery;

/// `Native::Engine#stats`: every counter by name, then rates and per-call latencies.
#[derive(Serialize)]
struct Stats {
    #[serde(flatten)]
    counters: Pairs<&'static str, u64>,
    steps_per_second: u64,
    uptime_seconds: f64,
    latency: Pairs<&'static str, Latency>,
}

/// One latency histogram, in microseconds.
#[derive(Serialize)]
struct Latency {
    count: u64,
    mean_us: f64,
    p50_us: f64,
    p99_us: f64,
}

impl Engine {
    pub(super) fn stats(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
        let engine = &rb_self.inner;
        let stats = Stats {
            counters: Pairs(engine.stats()),
            steps_per_second: engine.steps_per_second(),
            uptime_seconds: engine.uptime().as_secs_f64(),
            latency: Pairs(
                engine
                    .latency()
                    .into_iter()
                    .map(|(name, snap)| {
                        let latency = Latency {
                            count: snap.count,
                            mean_us: snap.mean_seconds() * 1e6,
                            p50_us: snap.quantile_seconds(0.5) * 1e6,
                            p99_us: snap.quantile_seconds(0.99) * 1e6,
                        };
                        (name, latency)
                    })
                    .collect(),
            ),
        };
        to_ruby(ruby, &stats, Keys::Symbol)
    }

    /// Live counts as one Array of Integers, in this order: total, pending, in_progress,
    /// complete, error, cancelled, resolved_manually tasks; the same for steps; retryable
    /// and exhausted error steps; steps in flight; pool capacity. An Array rather than a
    /// Hash (and built directly, not as a view) because `SystemHealthCounts.current` is
    /// meant to cost microseconds.
    pub(super) fn health(ruby: &Ruby, rb_self: &Self) -> Result<RArray, Error> {
        let engine = &rb_self.inner;
        let c = if engine.health_is_counted() {
            engine.health()
        } else {
            // Just after start on a large store: the count is still running.
            blocking("reading health", || Ok(engine.health()))?
        };
        let out = ruby.ary_new_capa(20);
        out.push(c.total_tasks)?;
        for n in c.tasks_by_state() {
            out.push(n)?;
        }
        out.push(c.total_steps)?;
        for n in c.steps_by_state() {
            out.push(n)?;
        }
        out.push(c.retryable_error_steps)?;
        out.push(c.exhausted_retry_steps)?;
        out.push(rb_self.inner.steps_in_flight())?;
        out.push(rb_self.inner.capacity())?;
        Ok(out)
    }

    /// Adds `slots` (negative: removes) to the steps the pools can run at once.
    pub(super) fn add_capacity(&self, slots: isize) {
        self.inner.add_capacity(slots);
    }

    /// Every counter, gauge and latency histogram in the Prometheus text format.
    /// On a shared store the text includes the process table (a query): the GVL is
    /// released for it.
    pub(super) fn metrics_text(&self) -> Result<String, Error> {
        guard(|| {
            let engine = self.inner.clone();
            blocking("metrics_text", move || Ok(engine.metrics_text()))
        })
    }

    /// Health counts as stored: `{total_tasks:, pending_tasks:, …, in_backoff_steps:,
    /// active_connections:, max_connections:}`.
    pub(super) fn stored_health(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
        query(ruby, || rb_self.inner.stored_health())
    }

    /// The engines' processes sharing the store: `[{id:, hostname:, pid:, role:,
    /// started_at: (µs), heartbeat_age_seconds:, alive:, capacity:, steps_in_flight:,
    /// claimed_tasks:, version:}, …]`.
    pub(super) fn processes(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
        query(ruby, || rb_self.inner.processes())
    }

    /// Analytics since `since_us` (microseconds since the epoch).
    pub(super) fn analytics_metrics(
        ruby: &Ruby,
        rb_self: &Self,
        since_us: i64,
    ) -> Result<Value, Error> {
        query(ruby, || {
            rb_self.inner.analytics_metrics(Timestamp(since_us))
        })
    }

    /// `[[steps completed, tasks failed], …]` per interval of `[from_us, to_us]` cut into
    /// `buckets`, oldest first (the dashboard's chart; one query on the SQL stores).
    pub(super) fn throughput(
        ruby: &Ruby,
        rb_self: &Self,
        from_us: i64,
        to_us: i64,
        buckets: u32,
    ) -> Result<Value, Error> {
        query(ruby, || {
            rb_self
                .inner
                .throughput(Timestamp(from_us), Timestamp(to_us), buckets)
        })
    }

    /// The slowest finished rows: `kind` is "steps", "step_groups" or "tasks"; rows
    /// finished at or after `since_us`, at most `limit`, filtered by template when given.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn slowest(
        ruby: &Ruby,
        rb_self: &Self,
        kind: String,
        since_us: i64,
        limit: u32,
        namespace: Option<String>,
        task_name: Option<String>,
        version: Option<String>,
    ) -> Result<Value, Error> {
        let q = SlowQuery {
            since: Timestamp(since_us),
            limit,
            namespace,
            task_name,
            version,
        };
        let engine = &rb_self.inner;
        match kind.as_str() {
            "steps" => query(ruby, || engine.slowest_steps(&q)),
            "step_groups" => query(ruby, || engine.slowest_step_groups(&q)),
            "tasks" => query(ruby, || engine.slowest_tasks(&q)),
            other => Err(error(
                "ValidationError",
                format!("slowest: kind must be steps, step_groups or tasks, not {other:?}"),
            )),
        }
    }
}

/// Runs a store query off the GVL and converts its answer (Symbol keys; timestamps as
/// microseconds since the epoch, which the Ruby classes turn into Times).
fn query<T: Serialize>(ruby: &Ruby, run: impl FnOnce() -> TaskerResult<T>) -> Result<Value, Error> {
    guard(|| {
        let answer = blocking("the query", run)?;
        to_ruby(ruby, &answer, Keys::Symbol)
    })
}
