//! A stored task as the graph crate's input: its step graph and what each step's state
//! says, so `tasker-graph` can analyse and draw a task without knowing about stores.

use std::collections::HashMap;
use tasker_graph::{Dag, GraphError, StepFacts};
use tasker_model::{State, TaskerError, TaskerResult, Timestamp};
use tasker_resolver::readiness::step_readiness;
use tasker_resolver::StepSnapshot;
use tasker_state::{StepView, TaskView};

/// A task's graph (steps in template order) and one [`StepFacts`] per step, as the store
/// holds them. Named for where it comes from, apart from the binding's `TaskGraph` class
/// (which wraps it, or a template's graph).
#[derive(Debug, Clone)]
pub struct StoredGraph {
    pub dag: Dag,
    pub facts: Vec<StepFacts>,
}

impl StoredGraph {
    /// Builds the graph of `view` as it stood when read; readiness is judged at `now`.
    pub fn from_view(view: &TaskView, now: Timestamp) -> TaskerResult<StoredGraph> {
        let index: HashMap<i64, u32> = view
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.step.step_id.0, i as u32))
            .collect();
        let parents: Vec<Vec<u32>> = view
            .steps
            .iter()
            .map(|s| {
                s.parents
                    .iter()
                    .filter_map(|p| index.get(&p.0).copied())
                    .collect()
            })
            .collect();
        let names = view.steps.iter().map(|s| s.step.name.clone());
        let dag = Dag::new(names, parents).map_err(|e| graph_error(view, e))?;
        let satisfied: Vec<bool> = view
            .steps
            .iter()
            .map(|s| matches!(s.state, State::Complete | State::ResolvedManually))
            .collect();
        let facts = view
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let parents_done = dag
                    .parents(i as u32)
                    .unwrap_or(&[])
                    .iter()
                    .all(|&p| satisfied[p as usize]);
                StepFacts {
                    id: s.step.step_id.0,
                    state: s.state,
                    ready: step_readiness(&snapshot(s), parents_done, now).ready,
                    duration_ms: last_duration_ms(s),
                }
            })
            .collect();
        Ok(StoredGraph { dag, facts })
    }
}

fn snapshot(s: &StepView) -> StepSnapshot {
    StepSnapshot {
        state: s.state,
        processed: s.step.processed,
        in_process: s.step.in_process,
        retryable: s.step.retryable,
        attempts: s.step.attempts,
        retry_limit: Some(s.step.retry_limit),
        backoff_request_seconds: s.step.backoff_request_seconds,
        last_attempted_at: s.step.last_attempted_at,
        state_entered_at: s.transitions.last().map(|t| t.created_at),
    }
}

/// The run time the engine recorded for the step's latest attempt (on the transition that
/// ended it), or, failing that, the time between its last start and the end that followed.
fn last_duration_ms(s: &StepView) -> Option<f64> {
    let end = s.transitions.iter().rposition(|t| {
        matches!(t.to_state, State::Complete | State::Error)
            && t.from_state == Some(State::InProgress)
    })?;
    let ended = &s.transitions[end];
    if let Some(ms) = ended.meta.duration_ms {
        return Some(ms);
    }
    let started = s.transitions[..end]
        .iter()
        .rev()
        .find(|t| t.to_state == State::InProgress)?;
    Some((ended.created_at.0 - started.created_at.0) as f64 / 1000.0)
}

fn graph_error(view: &TaskView, e: GraphError) -> TaskerError {
    TaskerError::Orchestration(format!(
        "task {}: its stored steps do not form a graph: {e}",
        view.task.task_id.0
    ))
}
