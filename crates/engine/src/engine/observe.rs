//! Looking at a running engine without changing it: reading tasks (with read-your-writes),
//! counters, latency histograms and their Prometheus text, live and stored health, the
//! store's insights queries, and event subscriptions.
//!
//! It must not change a task. Counters are read here; they are kept in one
//! `tasker_metrics::Metrics`.

use super::Engine;
use crate::outcomes::{Known, TaskOutcome};
use crate::StoredGraph;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tasker_event_bus::{Event, EventBus, Overflow, Pattern, Publish, Subscription, Unsubscribe};
use tasker_metrics::{labelled_gauge_text, HistogramSnapshot, Levels, Metrics};
use tasker_model::{EngineConfig, State, TaskId, TaskerError, TaskerResult, Timestamp};
use tasker_state::insights::{
    AnalyticsMetrics, HealthCounts, SlowQuery, SlowestStep, SlowestStepGroup, SlowestTask,
};
use tasker_state::{ProcessInfo, Store, TaskFilter, TaskListing, TaskView};

/// How long a read of a task this engine just accepted waits for its creation to commit.
const READ_OWN_WRITES_TIMEOUT: Duration = Duration::from_secs(10);

impl Engine {
    /// Stored tasks, newest first, a page at a time (see `tasker_state::listing`).
    pub fn list_tasks(&self, filter: &TaskFilter) -> TaskerResult<Vec<TaskListing>> {
        self.store.list_tasks(filter)
    }

    /// The task step `step` belongs to, from the store.
    pub fn task_of_step(&self, step: tasker_model::StepId) -> TaskerResult<Option<TaskId>> {
        self.store.task_of_step(step)
    }

    /// A task with its steps and history, read from the store (works after `stop` too).
    /// Reads its own writes: a task this engine just accepted is found (see
    /// `read_own`).
    pub fn task(&self, task_id: TaskId) -> TaskerResult<Option<TaskView>> {
        self.read_own(|store| store.task(task_id))
    }

    /// A task's current state (its most recent transition), or `None` when there is no such
    /// task; reads its own writes like [`Engine::task`]. A task this engine finished is
    /// answered from its kept outcome; otherwise one indexed read, no steps.
    pub fn task_state(&self, task_id: TaskId) -> TaskerResult<Option<State>> {
        if let Known::Finished(outcome) = self.outcomes.known(task_id) {
            return Ok(Some(outcome.state));
        }
        self.read_own(|store| store.task_state(task_id))
    }

    /// The outcome this engine kept of a task it finished, if it kept one: a map lookup,
    /// never the store.
    pub fn kept_outcome(&self, task_id: TaskId) -> Option<Arc<TaskOutcome>> {
        match self.outcomes.known(task_id) {
            Known::Finished(outcome) => Some(outcome),
            _ => None,
        }
    }

    /// A task's state and its steps' outcomes (no history): kept in memory for a task this
    /// engine finished (see [`crate::outcomes`]), else read from the store like
    /// [`Engine::task`].
    pub fn task_outcome(&self, task_id: TaskId) -> TaskerResult<Option<Arc<TaskOutcome>>> {
        if let Known::Finished(outcome) = self.outcomes.known(task_id) {
            return Ok(Some(outcome));
        }
        Ok(self
            .task(task_id)?
            .map(|view| Arc::new(TaskOutcome::from_view(&view))))
    }

    /// Reads a task with `read`; when the store does not have it yet and this engine
    /// is running, waits for everything this engine has accepted so far to commit (at most
    /// [`READ_OWN_WRITES_TIMEOUT`]; a deferred commit will do, the read needs the rows, not
    /// their durability) and reads once more. So an id that `submit` just returned is
    /// always found by this engine, while a read of an unknown id waits for whatever this
    /// engine holds uncommitted (mostly nothing). Task ids from another process are not
    /// waited for.
    pub(super) fn read_own<T>(
        &self,
        read: impl Fn(&dyn Store) -> TaskerResult<Option<T>>,
    ) -> TaskerResult<Option<T>> {
        if let Some(found) = read(self.store.as_ref())? {
            return Ok(Some(found));
        }
        if self.is_stopped() || !self.orchestrator.connected() {
            return Ok(None);
        }
        // Only the ordering matters here; a failure it reports belongs to whoever flushes
        // for their own writes, and a failed creation simply leaves no task to find.
        let _ = self.commit_pending(READ_OWN_WRITES_TIMEOUT);
        read(self.store.as_ref())
    }

    /// A task's step graph with each step's state, readiness and last run time, read from
    /// the store now (for `tasker-graph`'s analyses and pictures).
    pub fn task_graph(&self, task_id: TaskId) -> TaskerResult<Option<StoredGraph>> {
        self.task(task_id)?
            .map(|view| StoredGraph::from_view(&view, Timestamp::now()))
            .transpose()
    }

    /// Latency histograms of the engine's operations; the binding records the calls that
    /// cross from Ruby into them.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Tasks and steps by state now (O(1): counters moved by every committed batch). Until
    /// the stored tasks counted at start have arrived (`boot.rs`), waits for them.
    pub fn health(&self) -> HealthCounts {
        self.health.counts()
    }

    /// Whether [`Engine::health`] answers at once (the count made at start has arrived).
    pub fn health_is_counted(&self) -> bool {
        self.health.is_seeded()
    }

    /// Health counts as the store holds them (a query; exact, and includes the
    /// PostgreSQL connection counts and the time-based backoff count).
    pub fn stored_health(&self) -> TaskerResult<HealthCounts> {
        self.store.health_counts(Timestamp::now())
    }

    /// Throughput and outcomes since `since` (a query).
    pub fn analytics_metrics(&self, since: Timestamp) -> TaskerResult<AnalyticsMetrics> {
        self.store.analytics_metrics(since, Timestamp::now())
    }

    /// Steps completed and tasks failed per interval of `[from, to]` cut into `buckets`,
    /// oldest first (one query on the SQL stores).
    pub fn throughput(
        &self,
        from: Timestamp,
        to: Timestamp,
        buckets: u32,
    ) -> TaskerResult<Vec<(u64, u64)>> {
        self.store.throughput(from, to, buckets)
    }

    /// The slowest finished steps `query` selects (a query).
    pub fn slowest_steps(&self, query: &SlowQuery) -> TaskerResult<Vec<SlowestStep>> {
        self.store.slowest_steps(query)
    }

    /// Finished steps grouped by namespace, task and step name, slowest average first.
    pub fn slowest_step_groups(&self, query: &SlowQuery) -> TaskerResult<Vec<SlowestStepGroup>> {
        self.store.slowest_step_groups(query)
    }

    /// The slowest finished tasks `query` selects (a query).
    pub fn slowest_tasks(&self, query: &SlowQuery) -> TaskerResult<Vec<SlowestTask>> {
        self.store.slowest_tasks(query)
    }

    /// Steps handed to workers and not yet reported.
    pub fn steps_in_flight(&self) -> usize {
        self.inflight.len()
    }

    /// Adds `slots` to the number of steps the pools can run at once (a pool calls this
    /// when it starts, and with a negative number when it stops).
    pub fn add_capacity(&self, slots: isize) {
        if slots >= 0 {
            self.capacity.fetch_add(slots as usize, Ordering::Relaxed);
        } else {
            let _ = self
                .capacity
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                    Some(c.saturating_sub(slots.unsigned_abs()))
                });
        }
        self.store
            .set_capacity(self.capacity.load(Ordering::Relaxed));
    }

    /// Steps the running pools can run at once.
    pub fn capacity(&self) -> usize {
        self.capacity.load(Ordering::Relaxed)
    }

    /// Every latency histogram: the engine's operations, then the store's commits.
    pub fn latency(&self) -> Vec<(&'static str, HistogramSnapshot)> {
        self.metrics.histograms()
    }

    /// Steps completed in the last full second (sampled by the orchestrator each second).
    pub fn steps_per_second(&self) -> u64 {
        self.metrics.steps_per_second()
    }

    /// Seconds since this engine started.
    pub fn uptime(&self) -> Duration {
        self.started_at.elapsed()
    }

    /// Every counter, gauge and histogram in the Prometheus text format.
    pub fn metrics_text(&self) -> String {
        let mut text = tasker_metrics::prometheus_text(
            &self.stats(),
            &Levels::NAMES,
            &self.latency(),
            &[
                ("steps_per_second", self.steps_per_second() as f64),
                ("uptime_seconds", self.uptime().as_secs_f64()),
            ],
        );
        text.push_str(&self.retention_metrics_text());
        if self.store.shares_tasks() {
            // One query of the process table, so a scrape of any process shows them all.
            match self.processes() {
                Ok(processes) => text.push_str(&processes_text(&processes)),
                Err(e) => text.push_str(&format!("# tasker_core_processes unavailable: {e}\n")),
            }
        }
        text
    }

    /// The engines' processes sharing this engine's store (a query; empty where the store
    /// serves one process only).
    pub fn processes(&self) -> TaskerResult<Vec<ProcessInfo>> {
        self.store.processes()
    }

    /// Every counter since start, and the levels of the queues now (`engine.stats`).
    pub fn stats(&self) -> Vec<(&'static str, u64)> {
        self.metrics.stats(&Levels {
            steps_in_flight: self.inflight.len() as u64,
            steps_queued: self.work[0].len() as u64,
            steps_queued_for_ractors: self.work[1].len() as u64,
            event_subscribers: self.event_interest.subscribers() as u64,
        })
    }

    /// The last error the store reported, if any.
    pub fn last_store_error(&self) -> Option<TaskerError> {
        self.last_store_error.lock().clone()
    }

    /// The configuration the engine runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Subscribes a consumer (a Ruby dispatcher, or Rust code) to events matching any of
    /// `patterns`, buffered up to `capacity` with `overflow` deciding what a full buffer
    /// loses. Events announce committed transitions, in order per task.
    pub fn subscribe<S: AsRef<str>>(
        &self,
        patterns: &[S],
        capacity: usize,
        overflow: Overflow,
    ) -> TaskerResult<Subscription> {
        let pattern = Pattern::parse_all(patterns)
            .map_err(|m| TaskerError::validation("event pattern", m))?;
        let id = self.next_subscriber.fetch_add(1, Ordering::Relaxed);
        let (msg, subscription) =
            EventBus::subscription(id, pattern, capacity.max(1), overflow, &self.event_interest);
        self.events.do_send(msg);
        Ok(subscription)
    }

    /// Hands `events` straight to the bus, bypassing the orchestrator and the store: for
    /// diagnostics and for benchmarking delivery on its own.
    pub fn publish_raw_events(&self, events: Vec<Event>) {
        self.events.do_send(Publish(events));
    }

    /// Removes a subscriber.
    pub fn unsubscribe(&self, id: u64) {
        self.events.do_send(Unsubscribe(id));
    }
}

/// The process table as gauges: live and dead processes by role, and per live process its
/// claimed tasks, steps in flight, capacity and heartbeat age.
fn processes_text(processes: &[ProcessInfo]) -> String {
    let mut by_role: Vec<(Vec<(&str, String)>, f64)> = Vec::new();
    for p in processes {
        let labels = vec![("role", p.role.clone()), ("alive", p.alive.to_string())];
        match by_role.iter_mut().find(|(l, _)| *l == labels) {
            Some((_, n)) => *n += 1.0,
            None => by_role.push((labels, 1.0)),
        }
    }
    let live: Vec<&ProcessInfo> = processes.iter().filter(|p| p.alive).collect();
    let per_process = |value: fn(&ProcessInfo) -> f64| -> Vec<(Vec<(&str, String)>, f64)> {
        live.iter()
            .map(|p| {
                let labels = vec![
                    ("hostname", p.hostname.clone()),
                    ("pid", p.pid.to_string()),
                    ("role", p.role.clone()),
                ];
                (labels, value(p))
            })
            .collect()
    };
    [
        labelled_gauge_text("processes", &by_role),
        labelled_gauge_text(
            "process_claimed_tasks",
            &per_process(|p| p.claimed_tasks as f64),
        ),
        labelled_gauge_text(
            "process_steps_in_flight",
            &per_process(|p| p.steps_in_flight as f64),
        ),
        labelled_gauge_text("process_capacity", &per_process(|p| p.capacity as f64)),
        labelled_gauge_text(
            "process_heartbeat_age_seconds",
            &per_process(|p| p.heartbeat_age_seconds),
        ),
    ]
    .concat()
}
