//! Which steps the SVG marks because of an error, from the steps' states: the error chain
//! (the steps a failed step depended on, every path up to its roots) and the steps it
//! blocks (unfinished steps downstream). Decides marks only; drawing them is `svg.rs`'s and
//! `svg_edge.rs`'s.

use super::state_of;
use crate::dag::Dag;
use crate::runtime_analysis::StepFacts;
use tasker_model::State;

/// How a step or an edge is marked. A step: `failed` in error, `chain` on a failed step's
/// error chain (an ancestor), `blocked` held back by an error. An edge: `chain` leads into
/// a failed step or a step on its chain (class `error-chain`), `blocked` to a blocked one.
#[derive(Clone, Copy)]
pub(super) struct Flags {
    pub(super) critical: bool,
    pub(super) failed: bool,
    pub(super) chain: bool,
    pub(super) blocked: bool,
}

fn failed_steps(dag: &Dag, facts: Option<&[StepFacts]>) -> Vec<u32> {
    (0..dag.len() as u32)
        .filter(|&s| state_of(facts, s) == Some(State::Error))
        .collect()
}

/// Steps held back by an error: pending or in-progress steps downstream of a step in
/// error, reached through other such steps (the runtime analysis's "blocked steps").
pub(super) fn blocked_steps(dag: &Dag, facts: Option<&[StepFacts]>) -> Vec<bool> {
    let mut blocked = vec![false; dag.len()];
    let mut stack = failed_steps(dag, facts);
    while let Some(s) = stack.pop() {
        for &c in dag.children_of(s) {
            let waiting = matches!(state_of(facts, c), Some(State::Pending | State::InProgress));
            if waiting && !blocked[c as usize] {
                blocked[c as usize] = true;
                stack.push(c);
            }
        }
    }
    blocked
}

/// Steps on a failed step's error chain: its ancestors, every step it depended on directly
/// or through others, up to the roots (the paths that led to the failure). A failed step
/// that is an ancestor of another failed step is on that one's chain too.
pub(super) fn chain_steps(dag: &Dag, facts: Option<&[StepFacts]>) -> Vec<bool> {
    let mut chain = vec![false; dag.len()];
    let mut stack = failed_steps(dag, facts);
    while let Some(s) = stack.pop() {
        for &p in dag.parents_of(s) {
            if !chain[p as usize] {
                chain[p as usize] = true;
                stack.push(p);
            }
        }
    }
    chain
}
