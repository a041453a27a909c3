//! Tasker's readiness rules (TASKER.md, "Readiness"), applied to a snapshot of one task.
//!
//! This is the full evaluation: every step of a task, from stored fields alone. The engine
//! uses it when it must decide from scratch (recovery, inspection, cross-checks with the SQL
//! function); in steady state it relies on [`crate::RuntimeDag`] instead.
//!
//! # Layout
//! - `rules`: the per-step rules 1-8 over a [`StepSnapshot`].
//! - this file: the rules applied to every step of a task (or of many tasks at once).
//! - `context`: the task-level [`ExecutionContext`] derived from those answers.

mod context;
mod rules;
#[cfg(test)]
mod tests;

pub use context::{ExecutionContext, ExecutionStatus};
pub use rules::{
    step_readiness, StepReadiness, StepSnapshot, DEFAULT_RETRY_LIMIT, ERROR_BACKOFF_CAP_SECONDS,
};

use crate::graph::TemplateGraph;
use rayon::prelude::*;
use tasker_model::Timestamp;

/// Evaluates every step of one task into `out` (cleared first), reusing its allocation.
/// `steps[i]` is the step at template index `i`.
pub fn evaluate_into(
    graph: &TemplateGraph,
    steps: &[StepSnapshot],
    now: Timestamp,
    out: &mut Vec<StepReadiness>,
) {
    assert_eq!(graph.len(), steps.len(), "one snapshot per template step");
    out.clear();
    out.reserve(steps.len());
    for (i, step) in steps.iter().enumerate() {
        let deps = graph
            .parents(i as u32)
            .iter()
            .all(|&p| steps[p as usize].state.satisfies_dependents());
        out.push(step_readiness(step, deps, now));
    }
}

/// Evaluates every step of one task.
pub fn evaluate(
    graph: &TemplateGraph,
    steps: &[StepSnapshot],
    now: Timestamp,
) -> Vec<StepReadiness> {
    let mut out = Vec::with_capacity(steps.len());
    evaluate_into(graph, steps, now, &mut out);
    out
}

/// Evaluates many tasks at once across rayon's pool; results keep the input order.
pub fn evaluate_many(
    tasks: &[(&TemplateGraph, &[StepSnapshot])],
    now: Timestamp,
) -> Vec<Vec<StepReadiness>> {
    tasks.par_iter().map(|(g, s)| evaluate(g, s, now)).collect()
}
