//! What can go wrong when building or analysing a graph.
//!
//! Each message names the thing at fault (the step, the template source, the counts) so the
//! binding can pass it to Ruby unchanged.

use thiserror::Error;

/// An input this crate cannot analyse. Nothing here is a bug in the caller's graph library:
/// every variant is bad input, reported instead of a panic.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GraphError {
    /// [`crate::Dag::new`] was given a different number of names and parent lists.
    #[error(
        "a graph needs one parent list per step: got {names} names and {parents} parent lists"
    )]
    LengthMismatch { names: usize, parents: usize },

    /// A step index does not fit the `u32` indices the graph uses.
    #[error("a graph may have at most {} steps, got {steps}", u32::MAX)]
    TooManySteps { steps: usize },

    /// A parent list names a step index the graph does not have.
    #[error("step '{step}' (#{index}) names parent #{parent}, but the graph has only {len} steps")]
    ParentOutOfRange {
        step: String,
        index: u32,
        parent: u32,
        len: usize,
    },

    /// A template step depends on a name no step of the template has.
    #[error("{template}, step '{step}': unknown dependency '{parent}': no step of that name in this template")]
    UnknownDependency {
        template: String,
        step: String,
        parent: String,
    },

    /// Runtime analysis needs exactly one [`crate::StepFacts`] per step, in step order.
    #[error(
        "runtime analysis needs one StepFacts per step: the graph has {steps} steps, got {facts}"
    )]
    FactsMismatch { steps: usize, facts: usize },

    /// Runtime analysis needs an acyclic graph; this is one cycle it found, closed (`a … a`).
    #[error("dependency cycle: {}", .cycle.join(" -> "))]
    Cycle { cycle: Vec<String> },
}
