//! Pictures of a graph as text: Mermaid (`flowchart TD`, for Markdown and web pages),
//! Graphviz DOT (for `dot -Tsvg`) and SVG laid out here (for web pages and files, with no
//! Graphviz installed).
//!
//! All three draw the same thing: one box per step labelled with its name, an arrow from each
//! parent to its child, boxes filled by state when [`StepFacts`] are given (neutral
//! otherwise, e.g. for a template), and a path — usually a critical path — drawn thick and
//! red. Node ids are generated (`s0`, `s1`, …) so that no step name, whatever characters it
//! holds, can break the syntax; names appear only inside escaped, quoted labels.
//!
//! No function fails: facts missing for a step leave it neutral, and indices in the
//! marked path that name no step are ignored, so a picture is always produced.

mod dot;
mod layout;
mod mermaid;
mod svg;
mod svg_edge;
mod svg_marks;
mod svg_text;

pub use dot::to_dot;
pub use mermaid::to_mermaid;
pub use svg::to_svg;

use crate::dag::Dag;
use crate::runtime_analysis::StepFacts;
use std::collections::HashSet;
use std::fmt::{Display, Write};
use tasker_model::State;

/// Fill and border for a step without facts.
const NEUTRAL_FILL: &str = "#ffffff";
const NEUTRAL_STROKE: &str = "#616161";
/// Stroke and colour of the marked path.
const CRITICAL_COLOUR: &str = "#d32f2f";

/// Fill and border colours per state, light enough that black text stays legible.
fn colours(state: State) -> (&'static str, &'static str) {
    match state {
        State::Pending => ("#eeeeee", "#9e9e9e"),
        State::InProgress => ("#bbdefb", "#1976d2"),
        State::Complete => ("#c8e6c9", "#388e3c"),
        State::Error => ("#ffcdd2", "#c62828"),
        State::Cancelled => ("#d7ccc8", "#5d4037"),
        State::ResolvedManually => ("#fff9c4", "#f9a825"),
    }
}

/// The state to colour `step` by, if facts were given for it.
fn state_of(facts: Option<&[StepFacts]>, step: u32) -> Option<State> {
    facts?.get(step as usize).map(|f| f.state)
}

/// Which steps and edges of `path` to mark. Consecutive entries joined by a real edge
/// (either direction) mark that edge; entries that name no step are dropped.
struct Marked {
    steps: Vec<bool>,
    edges: HashSet<(u32, u32)>,
}

impl Marked {
    fn new(dag: &Dag, path: &[u32]) -> Marked {
        let mut steps = vec![false; dag.len()];
        for &s in path {
            if let Some(m) = steps.get_mut(s as usize) {
                *m = true;
            }
        }
        let is_edge = |p: u32, c: u32| {
            dag.children(p)
                .is_some_and(|cs| cs.binary_search(&c).is_ok())
        };
        let edges = path
            .windows(2)
            .filter_map(|w| match (w[0], w[1]) {
                (a, b) if is_edge(a, b) => Some((a, b)),
                (a, b) if is_edge(b, a) => Some((b, a)),
                _ => None,
            })
            .collect();
        Marked { steps, edges }
    }

    fn step(&self, s: u32) -> bool {
        self.steps[s as usize]
    }

    fn edge(&self, parent: u32, child: u32) -> bool {
        !self.edges.is_empty() && self.edges.contains(&(parent, child))
    }
}

/// `name` with every character `replace` has text for swapped for that text, the rest kept.
/// Each format passes its own table: the loop is shared, the rules are not.
fn escape_with(name: &str, replace: impl Fn(char) -> Option<&'static str>) -> String {
    let mut out = String::with_capacity(name.len());
    for ch in name.chars() {
        match replace(ch) {
            Some(text) => out.push_str(text),
            None => out.push(ch),
        }
    }
    out
}

/// Writes `items` separated by commas, each after `prefix` (`s0,s3`, or `2,5` with none).
fn push_comma_list<T: Display>(out: &mut String, prefix: &str, items: &[T]) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{prefix}{item}");
    }
}
