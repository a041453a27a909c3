//! The shape of a template: cycles, roots, leaves, levels, and a name for the topology.
//!
//! This is what a reviewer wants to know about a template file before it is registered, so
//! it works on cyclic graphs too: the cycles are reported, and the rest is computed on the
//! acyclic part (steps on or after a cycle get no level).

use crate::dag::Dag;
use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// A name for a graph's shape, from the most specific to the most general. The first that
/// fits is the answer, in the order listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Topology {
    /// No steps.
    Empty,
    /// At least one dependency cycle (see [`TemplateAnalysis::cycles`]).
    Cyclic,
    /// One step.
    Single,
    /// Several steps, no dependencies: all run at once.
    Parallel,
    /// One chain: one root, and every step has at most one parent and one child.
    Linear,
    /// A tree: one root, every step at most one parent, some step several children.
    FanOut,
    /// An inverted tree: one leaf, every step at most one child, some step several parents.
    FanIn,
    /// One root and one leaf, with both branching and merging in between.
    Diamond,
    /// Anything else: several roots and leaves with merging.
    Dag,
}

impl Topology {
    /// Classifies `dag`. Linear in steps.
    pub fn of(dag: &Dag) -> Topology {
        let n = dag.len() as u32;
        if n == 0 {
            return Topology::Empty;
        }
        if !dag.is_acyclic() {
            return Topology::Cyclic;
        }
        if n == 1 {
            return Topology::Single;
        }
        if dag.edge_count() == 0 {
            return Topology::Parallel;
        }
        let max_in = (0..n).map(|i| dag.parents_of(i).len()).max().unwrap_or(0);
        let max_out = (0..n).map(|i| dag.children_of(i).len()).max().unwrap_or(0);
        let roots = (0..n).filter(|&i| dag.parents_of(i).is_empty()).count();
        let leaves = (0..n).filter(|&i| dag.children_of(i).is_empty()).count();
        // With no cycle, one root and at most one parent each, every step hangs off the root:
        // the graph is a single connected tree (a chain when nothing branches either).
        match (max_in <= 1, max_out <= 1, roots == 1, leaves == 1) {
            (true, true, true, _) => Topology::Linear,
            (true, _, true, _) => Topology::FanOut,
            (_, true, _, true) => Topology::FanIn,
            (_, _, true, true) => Topology::Diamond,
            _ => Topology::Dag,
        }
    }

    /// The snake_case name (`"fan_out"`), as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Topology::Empty => "empty",
            Topology::Cyclic => "cyclic",
            Topology::Single => "single",
            Topology::Parallel => "parallel",
            Topology::Linear => "linear",
            Topology::FanOut => "fan_out",
            Topology::FanIn => "fan_in",
            Topology::Diamond => "diamond",
            Topology::Dag => "dag",
        }
    }
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a template's graph looks like. Every list is in step (template) order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemplateAnalysis {
    /// One closed cycle (`[a, b, c, a]`) per strongly connected component that has one,
    /// ordered by first step; empty when acyclic. Not every elementary cycle: there can be
    /// exponentially many, and fixing these components removes them all.
    pub cycles: Vec<Vec<Arc<str>>>,
    /// Steps with no parents.
    pub roots: Vec<Arc<str>>,
    /// Steps with no children.
    pub leaves: Vec<Arc<str>>,
    /// `levels[0]` are the roots; a step's level is 1 + its deepest parent's. Steps on or
    /// after a cycle are left out.
    pub levels: Vec<Vec<Arc<str>>>,
    /// The longest root-to-leaf path by step count over the acyclic part (ties to earlier
    /// steps), so a template picture can mark it.
    pub longest_path: Vec<Arc<str>>,
    /// The shape's name.
    pub topology: Topology,
}

/// Analyses a template's graph. Linear in steps + edges.
pub fn analyze_template(dag: &Dag) -> TemplateAnalysis {
    let names = |steps: &[u32]| -> Vec<Arc<str>> {
        steps.iter().map(|&i| dag.name_of(i).clone()).collect()
    };
    TemplateAnalysis {
        cycles: dag.cycles().iter().map(|c| names(c)).collect(),
        roots: names(&dag.roots()),
        leaves: names(&dag.leaves()),
        levels: dag.levels().iter().map(|l| names(l)).collect(),
        longest_path: names(&dag.longest_path()),
        topology: Topology::of(dag),
    }
}
