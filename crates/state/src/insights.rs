//! Insights answered by the store: health counts, analytics over a period, and the slowest
//! steps and tasks (TASKER.md, "Analytics").
//!
//! This module owns what the numbers *mean*: the result types, each field's definition, and
//! the arithmetic that turns raw counts and sums into averages and ratios. The backends only
//! count and sum — [`MemoryStore`](crate::MemoryStore) in Rust (`insights/reference.rs`, the
//! reference), [`SqliteStore`](crate::SqliteStore) and [`PostgresStore`](crate::PostgresStore)
//! in SQL (`sql/*/insights.rs`) — and hand their totals to the functions here, so every store
//! gives the same numbers, bit for bit.
//!
//! # Shared definitions
//! - **State** of a task or step: the `to_state` of its `most_recent` transition; `pending`
//!   when it has none (TASKER.md, "States").
//! - **Finished**: current state `complete` or `error`. Its **finish time** (`completed_at`)
//!   is the `created_at` of that most recent transition: the latest complete (or error)
//!   transition.
//! - **Duration**: finish time − the row's own `created_at`, counted in whole microseconds
//!   (the stores' resolution) and reported in seconds (`micros / 1e6`) or milliseconds
//!   (`micros / 1e3`). A step's duration therefore includes the time it waited for its
//!   parents and its retries, as Tasker's does.
//! - **Retry eligible** (readiness rules 4 and 5): `retryable` and `attempts` (NULL as 0)
//!   below `retry_limit` (NULL as 3).
//!
//! # Layout
//! - The result types: [`HealthCounts`], [`AnalyticsMetrics`], [`SlowestStep`],
//!   [`SlowestStepGroup`], [`SlowestTask`]; the filter [`SlowQuery`].
//! - `pub(crate)` totals (`AnalyticsTotals`, `StepGroupTotals`) and the arithmetic on them.
//! - `reference`: the in-memory computation, which doubles as the executable definition.

pub(crate) mod reference;

use serde::Serialize;
use std::cmp::Ordering;
use tasker_model::{State, StepId, TaskId, Timestamp};

/// Rule 8's cap on the error backoff, in seconds (as `tasker_resolver::readiness`).
pub(crate) const ERROR_BACKOFF_CAP_SECONDS: i64 = 30;

/// How many tasks and steps are in each state now (TASKER.md's system health counts).
///
/// Counts are over every row in the store, not a period. The state counts of tasks add up to
/// `total_tasks`, and those of steps (with `cancelled_steps` and `resolved_manually_steps`,
/// which TASKER.md does not list) to `total_steps`.
///
/// Error steps split three ways: `retryable_error_steps` + `exhausted_retry_steps` + steps
/// that failed permanently (`retryable` false) with attempts still below the limit, which
/// are in neither.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct HealthCounts {
    pub total_tasks: u64,
    pub pending_tasks: u64,
    pub in_progress_tasks: u64,
    pub complete_tasks: u64,
    pub error_tasks: u64,
    pub cancelled_tasks: u64,
    /// Not in TASKER.md's list; makes the task counts add up.
    pub resolved_manually_tasks: u64,
    pub total_steps: u64,
    pub pending_steps: u64,
    pub in_progress_steps: u64,
    pub complete_steps: u64,
    pub error_steps: u64,
    /// Not in TASKER.md's list; makes the step counts add up.
    pub cancelled_steps: u64,
    /// Not in TASKER.md's list; makes the step counts add up.
    pub resolved_manually_steps: u64,
    /// In error and retry eligible (`retryable`, attempts NULL as 0 < retry_limit NULL as 3):
    /// the engine will run them again.
    pub retryable_error_steps: u64,
    /// In error with attempts (NULL as 0) >= retry_limit (NULL as 3), retryable or not.
    pub exhausted_retry_steps: u64,
    /// Steps that would be ready but for a backoff, at the `now` the counts were taken at:
    /// state pending or error, not processed, not in_process, retry eligible (rules 1, 2, 4,
    /// 5, 6), and held back by rule 7 or rule 8 —
    /// - rule 7: `backoff_request_seconds` and `last_attempted_at` both set and
    ///   `last_attempted_at + backoff_request_seconds > now`;
    /// - rule 8: in error and the error transition's `created_at` + min(2^attempts, 30) s
    ///   `> now` (attempts NULL as 1, clamped to 0..=5 before the power).
    ///
    /// Rule 3 (parents satisfied) is not evaluated: a step is attempted only once its
    /// parents are satisfied, and they cannot become unsatisfied again. The engine's own
    /// retry delay (up to 300 s) is not stored, so a step waiting for it past rule 8's 30 s
    /// counts here only while a `backoff_request_seconds` holds it.
    pub in_backoff_steps: u64,
    /// PostgreSQL only: client connections open on the server, any database and any state
    /// (`pg_stat_activity` rows with `backend_type = 'client backend'`), which is what
    /// counts against `max_connections`. `None` on other stores.
    pub active_connections: Option<u64>,
    /// PostgreSQL only: the server's `max_connections` setting. `None` on other stores.
    pub max_connections: Option<u64>,
}

/// [`HealthCounts`]' per-state fields in [`State::ALL`]'s order, to read or (left of `=`) set.
macro_rules! per_state {
    ($c:expr, tasks) => {
        [
            $c.pending_tasks,
            $c.in_progress_tasks,
            $c.complete_tasks,
            $c.error_tasks,
            $c.cancelled_tasks,
            $c.resolved_manually_tasks,
        ]
    };
    ($c:expr, steps) => {
        [
            $c.pending_steps,
            $c.in_progress_steps,
            $c.complete_steps,
            $c.error_steps,
            $c.cancelled_steps,
            $c.resolved_manually_steps,
        ]
    };
}

impl HealthCounts {
    /// Tasks in `state`.
    pub fn tasks_in(&self, state: State) -> u64 {
        self.tasks_by_state()[state.index()]
    }

    /// Steps in `state`.
    pub fn steps_in(&self, state: State) -> u64 {
        self.steps_by_state()[state.index()]
    }

    /// Sets the per-state counts from arrays in [`State::ALL`]'s order, and the totals to
    /// their sums: the inverse of `tasks_by_state` and `steps_by_state`.
    pub fn set_by_state(&mut self, tasks: [u64; 6], steps: [u64; 6]) {
        self.total_tasks = tasks.iter().sum();
        self.total_steps = steps.iter().sum();
        per_state!(self, tasks) = tasks;
        per_state!(self, steps) = steps;
    }

    /// Tasks per state, in [`State::ALL`]'s order.
    pub fn tasks_by_state(&self) -> [u64; 6] {
        per_state!(self, tasks)
    }

    /// Steps per state, in [`State::ALL`]'s order.
    pub fn steps_by_state(&self) -> [u64; 6] {
        per_state!(self, steps)
    }
}

/// Throughput and outcomes over a period (TASKER.md's analytics metrics).
///
/// The period is `[analysis_period_start, calculated_at]`, both ends included: the `since`
/// and `now` given to [`Store::analytics_metrics`](crate::Store::analytics_metrics).
/// Averages and ratios are 0.0 when there is nothing to divide by, except
/// `system_health_score`, which is 1.0 then (nothing failed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnalyticsMetrics {
    /// Tasks whose state is pending or in_progress now (not limited to the period).
    pub active_tasks_count: u64,
    /// Distinct namespaces that have at least one task (any time).
    pub total_namespaces_count: u64,
    /// Distinct (namespace, task name) pairs that have at least one task (any time);
    /// versions of one task are one type.
    pub unique_task_types_count: u64,
    /// `completion_count / (completion_count + error_count)`; 1.0 when both are 0.
    pub system_health_score: f64,
    /// Tasks created in the period.
    pub task_throughput: u64,
    /// Tasks whose state is complete, entered in the period (the most recent transition is
    /// the one to complete and its `created_at` is in the period). A task completed and later
    /// cancelled does not count.
    pub completion_count: u64,
    /// Tasks whose state is error, entered in the period. A task that failed and was then
    /// retried does not count (unless it failed again in the period).
    pub error_count: u64,
    /// `completion_count / task_throughput`; may exceed 1.0 when tasks created before the
    /// period completed in it.
    pub completion_rate: f64,
    /// `error_count / task_throughput`.
    pub error_rate: f64,
    /// Mean duration in seconds (created_at → the complete transition) of the tasks counted in
    /// `completion_count`.
    pub avg_task_duration: f64,
    /// Mean duration in seconds (step created_at → its complete transition) of the steps
    /// counted in `step_throughput`.
    pub avg_step_duration: f64,
    /// Steps whose state is complete, entered in the period (complete is final for a step,
    /// so: steps completed in the period).
    pub step_throughput: u64,
    pub analysis_period_start: Timestamp,
    pub calculated_at: Timestamp,
}

/// One finished step, for "where does the time go" (TASKER.md's slowest steps).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlowestStep {
    pub workflow_step_id: StepId,
    pub task_id: TaskId,
    pub step_name: String,
    pub task_name: String,
    pub namespace_name: String,
    pub version: String,
    /// `completed_at − created_at`, in seconds.
    pub duration_seconds: f64,
    /// The stored column: failed attempts so far (the engine counts failures, as Tasker
    /// does); `None` when the step never failed.
    pub attempts: Option<u32>,
    /// The step's `created_at` (its task's creation, for steps the engine creates).
    pub created_at: Timestamp,
    /// When it finished: the `created_at` of its most recent (complete or error) transition.
    pub completed_at: Timestamp,
    pub retryable: bool,
    /// Complete or error.
    pub step_status: State,
}

/// Finished steps grouped by (namespace, task name, step name): the average and worst
/// duration of each step kind, for the Ruby `SlowestSteps` objects' `avg_duration_ms` and
/// `execution_count`. Versions of a task are one group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlowestStepGroup {
    pub namespace_name: String,
    pub task_name: String,
    pub step_name: String,
    /// Mean duration of the group's steps, in milliseconds.
    pub avg_duration_ms: f64,
    /// Longest duration in the group, in milliseconds.
    pub max_duration_ms: f64,
    /// Finished steps in the group.
    pub execution_count: u64,
}

/// One finished task (TASKER.md's slowest tasks).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlowestTask {
    pub task_id: TaskId,
    pub task_name: String,
    pub namespace_name: String,
    pub version: String,
    /// `completed_at − created_at`, in seconds.
    pub duration_seconds: f64,
    /// The task's steps.
    pub step_count: u64,
    /// Its steps whose state is complete now.
    pub completed_steps: u64,
    /// Its steps whose state is error now.
    pub error_steps: u64,
    pub created_at: Timestamp,
    /// When it finished: the `created_at` of its most recent (complete or error) transition.
    pub completed_at: Timestamp,
    pub initiator: Option<String>,
    pub source_system: Option<String>,
    /// Complete or error. Not in TASKER.md's list; says which end the duration runs to.
    pub task_status: State,
}

/// Which finished steps or tasks the slowest-* queries look at, and how many rows they return.
///
/// A row qualifies when it is finished (complete or error) with a finish time at or after
/// `since`, and its task's template matches every filter given (exact, case-sensitive).
/// Rows come longest first, ties by ascending id; groups by descending average, ties by
/// namespace, task name, step name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlowQuery {
    /// Finished at or after this instant. Filtering on the finish rather than the start keeps
    /// a step that ran for days and finished an hour ago in "the last 24 hours".
    pub since: Timestamp,
    /// At most this many rows (0 returns none).
    pub limit: u32,
    pub namespace: Option<String>,
    pub task_name: Option<String>,
    pub version: Option<String>,
}

impl SlowQuery {
    /// How far back the default query looks: 24 hours, as Tasker's.
    pub const DEFAULT_WINDOW_SECONDS: i64 = 24 * 3600;
    /// Rows the default query returns.
    pub const DEFAULT_LIMIT: u32 = 10;

    /// The default query as of `now`: the last 24 hours, 10 rows, no filters.
    pub fn new(now: Timestamp) -> SlowQuery {
        SlowQuery {
            since: Timestamp(now.0 - Self::DEFAULT_WINDOW_SECONDS * 1_000_000),
            limit: Self::DEFAULT_LIMIT,
            namespace: None,
            task_name: None,
            version: None,
        }
    }

    /// Whether a task of this template passes the filters.
    pub(crate) fn matches(&self, namespace: &str, name: &str, version: &str) -> bool {
        self.namespace.as_deref().is_none_or(|n| n == namespace)
            && self.task_name.as_deref().is_none_or(|n| n == name)
            && self.version.as_deref().is_none_or(|v| v == version)
    }

    /// Whether any filter is set (the SQL stores use a cheaper query when none is).
    pub(crate) fn filtered(&self) -> bool {
        self.namespace.is_some() || self.task_name.is_some() || self.version.is_some()
    }
}

impl Default for SlowQuery {
    /// [`SlowQuery::new`] as of the current time.
    fn default() -> Self {
        SlowQuery::new(Timestamp::now())
    }
}

/// Seconds from microseconds: the one conversion every store uses, so their f64s agree.
pub(crate) fn seconds(micros: i64) -> f64 {
    micros as f64 / 1_000_000.0
}

/// `part / whole`, or 0.0 when `whole` is 0.
fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Mean in seconds of `count` durations summing to `sum_micros`, 0.0 when there are none.
fn mean_seconds(sum_micros: i64, count: u64) -> f64 {
    if count == 0 {
        0.0
    } else {
        sum_micros as f64 / count as f64 / 1_000_000.0
    }
}

/// What a backend counts for [`AnalyticsMetrics`]; [`AnalyticsTotals::metrics`] derives the
/// rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct AnalyticsTotals {
    pub(crate) active_tasks: u64,
    pub(crate) namespaces: u64,
    pub(crate) task_types: u64,
    pub(crate) tasks_created: u64,
    pub(crate) tasks_completed: u64,
    /// Sum of the durations of the completed tasks, in microseconds.
    pub(crate) tasks_completed_micros: i64,
    pub(crate) tasks_failed: u64,
    pub(crate) steps_completed: u64,
    /// Sum of the durations of the completed steps, in microseconds.
    pub(crate) steps_completed_micros: i64,
}

impl AnalyticsTotals {
    pub(crate) fn metrics(self, since: Timestamp, now: Timestamp) -> AnalyticsMetrics {
        let finished = self.tasks_completed + self.tasks_failed;
        AnalyticsMetrics {
            active_tasks_count: self.active_tasks,
            total_namespaces_count: self.namespaces,
            unique_task_types_count: self.task_types,
            system_health_score: if finished == 0 {
                1.0
            } else {
                ratio(self.tasks_completed, finished)
            },
            task_throughput: self.tasks_created,
            completion_count: self.tasks_completed,
            error_count: self.tasks_failed,
            completion_rate: ratio(self.tasks_completed, self.tasks_created),
            error_rate: ratio(self.tasks_failed, self.tasks_created),
            avg_task_duration: mean_seconds(self.tasks_completed_micros, self.tasks_completed),
            avg_step_duration: mean_seconds(self.steps_completed_micros, self.steps_completed),
            step_throughput: self.steps_completed,
            analysis_period_start: since,
            calculated_at: now,
        }
    }
}

/// One group's raw totals, as a backend counts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StepGroupTotals {
    pub(crate) namespace_name: String,
    pub(crate) task_name: String,
    pub(crate) step_name: String,
    pub(crate) count: u64,
    pub(crate) sum_micros: i64,
    pub(crate) max_micros: i64,
}

/// Orders groups by average duration (descending, compared exactly as fractions of
/// integers, so no backend's rounding decides a tie), then by names, and keeps `limit`.
/// Done in Rust for every store: there are as many groups as step kinds, a few hundred at
/// most, and the SQL engines' averages (numeric, REAL) would round differently.
pub(crate) fn rank_groups(mut groups: Vec<StepGroupTotals>, limit: u32) -> Vec<SlowestStepGroup> {
    groups.retain(|g| g.count > 0);
    groups.sort_by(|a, b| {
        let by_avg = (i128::from(b.sum_micros) * i128::from(a.count))
            .cmp(&(i128::from(a.sum_micros) * i128::from(b.count)));
        by_avg.then_with(|| {
            (&a.namespace_name, &a.task_name, &a.step_name).cmp(&(
                &b.namespace_name,
                &b.task_name,
                &b.step_name,
            ))
        })
    });
    groups.truncate(limit as usize);
    groups
        .into_iter()
        .map(|g| SlowestStepGroup {
            avg_duration_ms: g.sum_micros as f64 / g.count as f64 / 1000.0,
            max_duration_ms: g.max_micros as f64 / 1000.0,
            execution_count: g.count,
            namespace_name: g.namespace_name,
            task_name: g.task_name,
            step_name: g.step_name,
        })
        .collect()
}

/// The slowest-first order of rows: longer duration first, then the smaller id.
pub(crate) fn slowest_first(a: (i64, i64), b: (i64, i64)) -> Ordering {
    b.0.cmp(&a.0).then(a.1.cmp(&b.1))
}

/// Rule 8's delay after an error, in microseconds: min(2^attempts, 30) s, attempts NULL as 1,
/// clamped to 0..=5 before the power (2^5 is already past the cap).
pub(crate) fn error_backoff_micros(attempts: Option<i64>) -> i64 {
    let a = attempts.unwrap_or(1).clamp(0, 5);
    (1i64 << a).min(ERROR_BACKOFF_CAP_SECONDS) * 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str, count: u64, sum: i64, max: i64) -> StepGroupTotals {
        StepGroupTotals {
            namespace_name: "n".into(),
            task_name: "t".into(),
            step_name: name.into(),
            count,
            sum_micros: sum,
            max_micros: max,
        }
    }

    #[test]
    fn groups_rank_by_exact_average_then_name() {
        // b: 3 s / 3 = 1 s, c: 1 s / 1 = 1 s (a tie, broken by name), a: 5 s / 2 = 2.5 s.
        let ranked = rank_groups(
            vec![
                group("c", 1, 1_000_000, 1_000_000),
                group("b", 3, 3_000_000, 2_000_000),
                group("a", 2, 5_000_000, 4_000_000),
                group("empty", 0, 0, 0),
            ],
            10,
        );
        let names: Vec<_> = ranked.iter().map(|g| g.step_name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(ranked[0].avg_duration_ms, 2500.0);
        assert_eq!(ranked[0].max_duration_ms, 4000.0);
        let top = rank_groups(vec![group("x", 1, 1, 1), group("y", 1, 2, 2)], 1);
        assert_eq!(top.len(), 1);
        assert_eq!(top[0].step_name, "y");
    }

    #[test]
    fn empty_periods_divide_by_nothing() {
        let m = AnalyticsTotals::default().metrics(Timestamp(1), Timestamp(2));
        assert_eq!(m.system_health_score, 1.0);
        assert_eq!(m.completion_rate, 0.0);
        assert_eq!(m.avg_task_duration, 0.0);
        assert_eq!(m.analysis_period_start, Timestamp(1));
        assert_eq!(m.calculated_at, Timestamp(2));
    }

    #[test]
    fn rule_8_backoff_matches_the_resolver() {
        assert_eq!(error_backoff_micros(None), 2_000_000);
        assert_eq!(error_backoff_micros(Some(0)), 1_000_000);
        assert_eq!(error_backoff_micros(Some(4)), 16_000_000);
        assert_eq!(error_backoff_micros(Some(5)), 30_000_000);
        assert_eq!(error_backoff_micros(Some(1_000)), 30_000_000);
        assert_eq!(error_backoff_micros(Some(-3)), 1_000_000);
    }

    #[test]
    fn the_default_query_looks_back_a_day_for_ten_rows() {
        let q = SlowQuery::new(Timestamp::from_secs(100_000));
        assert_eq!(q.since, Timestamp::from_secs(100_000 - 86_400));
        assert_eq!(q.limit, 10);
        assert!(!q.filtered());
        assert!(q.matches("any", "thing", "1"));
        let q = SlowQuery {
            version: Some("2".into()),
            ..q
        };
        assert!(q.filtered());
        assert!(!q.matches("any", "thing", "1"));
    }
}
