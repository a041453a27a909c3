//! The insights computed in Rust over borrowed rows: what [`MemoryStore`](crate::MemoryStore)
//! answers, and the executable form of the definitions in the parent module that the SQL
//! stores are tested against.

use super::{
    error_backoff_micros, rank_groups, seconds, slowest_first, AnalyticsTotals, HealthCounts,
    SlowQuery, SlowestStep, SlowestStepGroup, SlowestTask, StepGroupTotals,
};
use crate::records::{StepRecord, TaskRecord, TransitionRecord};
use std::collections::{BTreeMap, HashSet};
use tasker_model::{State, Timestamp};

/// A task as the computations see it.
pub(crate) struct TaskRef<'a> {
    pub(crate) record: &'a TaskRecord,
    /// Oldest first.
    pub(crate) transitions: &'a [TransitionRecord],
    pub(crate) steps: Vec<StepRef<'a>>,
}

/// A step as the computations see it.
pub(crate) struct StepRef<'a> {
    pub(crate) record: &'a StepRecord,
    /// Oldest first.
    pub(crate) transitions: &'a [TransitionRecord],
}

/// The most recent transition, if any.
fn head(transitions: &[TransitionRecord]) -> Option<&TransitionRecord> {
    transitions
        .iter()
        .rev()
        .find(|t| t.most_recent)
        .or(transitions.last())
}

fn state(transitions: &[TransitionRecord]) -> State {
    head(transitions).map_or(State::Pending, |t| t.to_state)
}

/// (state, finish time) when finished (complete or error).
fn finished(transitions: &[TransitionRecord]) -> Option<(State, Timestamp)> {
    head(transitions)
        .filter(|t| matches!(t.to_state, State::Complete | State::Error))
        .map(|t| (t.to_state, t.created_at))
}

/// Whether `state` was entered inside `[since, now]`; returns the duration from `created`.
fn entered_in(
    transitions: &[TransitionRecord],
    state: State,
    created: Timestamp,
    since: Timestamp,
    now: Timestamp,
) -> Option<i64> {
    head(transitions)
        .filter(|t| t.to_state == state && since <= t.created_at && t.created_at <= now)
        .map(|t| t.created_at.0 - created.0)
}

pub(crate) fn health_counts(tasks: &[TaskRef<'_>], now: Timestamp) -> HealthCounts {
    let mut c = HealthCounts::default();
    let (mut by_task, mut by_step) = ([0; 6], [0; 6]);
    for task in tasks {
        by_task[state(task.transitions).index()] += 1;
        for step in &task.steps {
            by_step[count_step(&mut c, step, now).index()] += 1;
        }
    }
    c.set_by_state(by_task, by_step);
    c
}

/// Counts `step` in the error and backoff counts; returns its state for the per-state ones.
fn count_step(c: &mut HealthCounts, step: &StepRef<'_>, now: Timestamp) -> State {
    let s = step.record;
    let current = head(step.transitions);
    let st = current.map_or(State::Pending, |t| t.to_state);
    let attempts = s.attempts.map_or(0, i64::from);
    let below_limit = attempts < i64::from(s.retry_limit);
    let retry_eligible = s.retryable && below_limit;
    if st == State::Error {
        if retry_eligible {
            c.retryable_error_steps += 1;
        }
        if !below_limit {
            c.exhausted_retry_steps += 1;
        }
    }
    let rule_7 = match (s.backoff_request_seconds, s.last_attempted_at) {
        (Some(b), Some(last)) => last.0 + b * 1_000_000 > now.0,
        _ => false,
    };
    let rule_8 = match current {
        Some(t) if st == State::Error => {
            t.created_at.0 + error_backoff_micros(s.attempts.map(i64::from)) > now.0
        }
        _ => false,
    };
    if matches!(st, State::Pending | State::Error)
        && !s.processed
        && !s.in_process
        && retry_eligible
        && (rule_7 || rule_8)
    {
        c.in_backoff_steps += 1;
    }
    st
}

pub(crate) fn analytics_totals(
    tasks: &[TaskRef<'_>],
    since: Timestamp,
    now: Timestamp,
) -> AnalyticsTotals {
    let mut t = AnalyticsTotals::default();
    let mut namespaces = HashSet::new();
    let mut types = HashSet::new();
    for task in tasks {
        let r = task.record;
        namespaces.insert(r.template.namespace.as_str());
        types.insert((r.template.namespace.as_str(), r.template.name.as_str()));
        if matches!(state(task.transitions), State::Pending | State::InProgress) {
            t.active_tasks += 1;
        }
        if since <= r.created_at && r.created_at <= now {
            t.tasks_created += 1;
        }
        if let Some(micros) =
            entered_in(task.transitions, State::Complete, r.created_at, since, now)
        {
            t.tasks_completed += 1;
            t.tasks_completed_micros += micros;
        }
        if entered_in(task.transitions, State::Error, r.created_at, since, now).is_some() {
            t.tasks_failed += 1;
        }
        for step in &task.steps {
            if let Some(micros) = entered_in(
                step.transitions,
                State::Complete,
                step.record.created_at,
                since,
                now,
            ) {
                t.steps_completed += 1;
                t.steps_completed_micros += micros;
            }
        }
    }
    t.namespaces = namespaces.len() as u64;
    t.task_types = types.len() as u64;
    t
}

/// Every step that qualifies for `q`, with its duration in microseconds, unordered.
fn qualifying_steps<'a>(
    tasks: &'a [TaskRef<'a>],
    q: &'a SlowQuery,
) -> impl Iterator<Item = (&'a TaskRef<'a>, &'a StepRef<'a>, State, Timestamp, i64)> + 'a {
    tasks
        .iter()
        .filter(|t| {
            let k = &t.record.template;
            q.matches(&k.namespace, &k.name, &k.version)
        })
        .flat_map(|t| t.steps.iter().map(move |s| (t, s)))
        .filter_map(move |(t, s)| {
            let (st, at) = finished(s.transitions)?;
            (at >= q.since).then_some((t, s, st, at, at.0 - s.record.created_at.0))
        })
}

pub(crate) fn slowest_steps(tasks: &[TaskRef<'_>], q: &SlowQuery) -> Vec<SlowestStep> {
    let mut rows: Vec<_> = qualifying_steps(tasks, q).collect();
    rows.sort_by(|a, b| slowest_first((a.4, a.1.record.step_id.0), (b.4, b.1.record.step_id.0)));
    rows.truncate(q.limit as usize);
    rows.into_iter()
        .map(|(t, s, st, at, micros)| SlowestStep {
            workflow_step_id: s.record.step_id,
            task_id: t.record.task_id,
            step_name: s.record.name.to_string(),
            task_name: t.record.template.name.clone(),
            namespace_name: t.record.template.namespace.clone(),
            version: t.record.template.version.clone(),
            duration_seconds: seconds(micros),
            attempts: s.record.attempts,
            created_at: s.record.created_at,
            completed_at: at,
            retryable: s.record.retryable,
            step_status: st,
        })
        .collect()
}

pub(crate) fn slowest_step_groups(tasks: &[TaskRef<'_>], q: &SlowQuery) -> Vec<SlowestStepGroup> {
    let mut groups: BTreeMap<(&str, &str, &str), StepGroupTotals> = BTreeMap::new();
    for (t, s, _, _, micros) in qualifying_steps(tasks, q) {
        let k = &t.record.template;
        let g = groups
            .entry((&k.namespace, &k.name, &s.record.name))
            .or_insert_with(|| StepGroupTotals {
                namespace_name: k.namespace.clone(),
                task_name: k.name.clone(),
                step_name: s.record.name.to_string(),
                count: 0,
                sum_micros: 0,
                max_micros: i64::MIN,
            });
        g.count += 1;
        g.sum_micros += micros;
        g.max_micros = g.max_micros.max(micros);
    }
    rank_groups(groups.into_values().collect(), q.limit)
}

pub(crate) fn slowest_tasks(tasks: &[TaskRef<'_>], q: &SlowQuery) -> Vec<SlowestTask> {
    let mut rows: Vec<_> = tasks
        .iter()
        .filter(|t| {
            let k = &t.record.template;
            q.matches(&k.namespace, &k.name, &k.version)
        })
        .filter_map(|t| {
            let (st, at) = finished(t.transitions)?;
            (at >= q.since).then_some((t, st, at, at.0 - t.record.created_at.0))
        })
        .collect();
    rows.sort_by(|a, b| slowest_first((a.3, a.0.record.task_id.0), (b.3, b.0.record.task_id.0)));
    rows.truncate(q.limit as usize);
    rows.into_iter()
        .map(|(t, st, at, micros)| {
            let steps_in = |s: State| {
                t.steps
                    .iter()
                    .filter(|step| state(step.transitions) == s)
                    .count() as u64
            };
            let r = t.record;
            SlowestTask {
                task_id: r.task_id,
                task_name: r.template.name.clone(),
                namespace_name: r.template.namespace.clone(),
                version: r.template.version.clone(),
                duration_seconds: seconds(micros),
                step_count: t.steps.len() as u64,
                completed_steps: steps_in(State::Complete),
                error_steps: steps_in(State::Error),
                created_at: r.created_at,
                completed_at: at,
                initiator: r.initiator.clone(),
                source_system: r.source_system.clone(),
                task_status: st,
            }
        })
        .collect()
}
