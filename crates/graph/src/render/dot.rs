//! Graphviz DOT text.
//!
//! Labels are DOT quoted strings, where only `"` and `\` are special (a backslash also
//! starts Graphviz's label escapes such as `\N`), so both are escaped and line breaks become
//! `\n`, which Graphviz draws as a line break.

use super::{
    colours, escape_with, state_of, Marked, CRITICAL_COLOUR, NEUTRAL_FILL, NEUTRAL_STROKE,
};
use crate::dag::Dag;
use crate::runtime_analysis::StepFacts;
use std::fmt::Write;

/// The graph as a Graphviz digraph, top to bottom. `facts` (one per step) fill the steps by
/// state; `critical` is a path of step indices whose edges are drawn `penwidth=3 color=red`.
pub fn to_dot(dag: &Dag, facts: Option<&[StepFacts]>, critical: &[u32]) -> String {
    let n = dag.len() as u32;
    let marked = Marked::new(dag, critical);
    let mut out = String::with_capacity(128 + dag.len() * 48 + dag.edge_count() * 16);
    out.push_str("digraph workflow {\n");
    out.push_str("    rankdir=TB;\n");
    let _ = writeln!(
        out,
        "    node [shape=box, style=\"rounded,filled\", fillcolor=\"{NEUTRAL_FILL}\", color=\"{NEUTRAL_STROKE}\", fontname=\"Helvetica\"];"
    );
    for s in 0..n {
        let _ = write!(out, "    s{s} [label=\"{}\"", escape(dag.name_of(s)));
        let mut border = None;
        if let Some(state) = state_of(facts, s) {
            let (fill, stroke) = colours(state);
            let _ = write!(out, ", fillcolor=\"{fill}\", tooltip=\"{state}\"");
            border = Some(stroke);
        }
        if marked.step(s) {
            let _ = write!(out, ", penwidth=3, color=\"{CRITICAL_COLOUR}\"");
        } else if let Some(stroke) = border {
            let _ = write!(out, ", color=\"{stroke}\"");
        }
        out.push_str("];\n");
    }
    for child in 0..n {
        for &parent in dag.parents_of(child) {
            let _ = write!(out, "    s{parent} -> s{child}");
            if marked.edge(parent, child) {
                out.push_str(" [penwidth=3, color=red]");
            }
            out.push_str(";\n");
        }
    }
    out.push_str("}\n");
    out
}

/// A name made safe inside a DOT quoted string.
fn escape(name: &str) -> String {
    escape_with(name, |ch| match ch {
        '"' => Some("\\\""),
        '\\' => Some("\\\\"),
        '\n' => Some("\\n"),
        '\r' => Some(""),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn quotes_and_backslashes_are_escaped() {
        assert_eq!(escape(r#"say "hi" \N"#), r#"say \"hi\" \\N"#);
        assert_eq!(escape("a\nb"), "a\\nb");
    }
}
