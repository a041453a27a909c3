//! Mermaid `flowchart TD` text.
//!
//! Mermaid has no general escape character; inside a quoted label it decodes entity codes
//! (`#quot;`, `#35;`), so every character that could end the label or be read as markup is
//! written as one. Styling uses one `classDef` per state present plus `critical`; a node's
//! `class` lines add up, so a critical step keeps its state's fill and gains a red border.
//! Critical edges are styled by position with `linkStyle`, which counts edges in the order
//! they are written.
//!
//! Mermaid's renderer refuses very large diagrams by default (`maxEdges`, `maxTextSize`);
//! the text is still produced, for tools that raise the limits.

use super::{
    colours, escape_with, push_comma_list, state_of, Marked, CRITICAL_COLOUR, NEUTRAL_FILL,
    NEUTRAL_STROKE,
};
use crate::dag::Dag;
use crate::runtime_analysis::StepFacts;
use std::fmt::Write;
use tasker_model::State;

/// The graph as a Mermaid flowchart, top to bottom. `facts` (one per step) colour the
/// steps by state; `critical` is a path of step indices to draw red and thick.
pub fn to_mermaid(dag: &Dag, facts: Option<&[StepFacts]>, critical: &[u32]) -> String {
    let n = dag.len() as u32;
    let marked = Marked::new(dag, critical);
    let mut out = String::with_capacity(64 + dag.len() * 40 + dag.edge_count() * 16);
    out.push_str("flowchart TD\n");
    for s in 0..n {
        let _ = writeln!(out, "    s{s}[\"{}\"]", label(dag.name_of(s)));
    }

    let mut critical_links = Vec::new();
    let mut link = 0usize;
    for child in 0..n {
        for &parent in dag.parents_of(child) {
            let _ = writeln!(out, "    s{parent} --> s{child}");
            if marked.edge(parent, child) {
                critical_links.push(link);
            }
            link += 1;
        }
    }

    // One class per state present, in State::ALL order after the neutral one; members in
    // step order.
    let classes: Vec<Option<State>> = std::iter::once(None)
        .chain(State::ALL.into_iter().map(Some))
        .collect();
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); classes.len()];
    for s in 0..n {
        let state = state_of(facts, s);
        if let Some(k) = classes.iter().position(|&c| c == state) {
            members[k].push(s);
        }
    }
    for (state, list) in classes.iter().zip(&members) {
        if list.is_empty() {
            continue;
        }
        let (class, fill, stroke) = match state {
            Some(st) => {
                let (fill, stroke) = colours(*st);
                (st.as_str(), fill, stroke)
            }
            None => ("neutral", NEUTRAL_FILL, NEUTRAL_STROKE),
        };
        let _ = writeln!(
            out,
            "    classDef {class} fill:{fill},stroke:{stroke},color:#212121"
        );
        write_class_line(&mut out, list, class);
    }

    let critical_steps: Vec<u32> = (0..n).filter(|&s| marked.step(s)).collect();
    if !critical_steps.is_empty() {
        let _ = writeln!(
            out,
            "    classDef critical stroke:{CRITICAL_COLOUR},stroke-width:3px"
        );
        write_class_line(&mut out, &critical_steps, "critical");
    }
    if !critical_links.is_empty() {
        out.push_str("    linkStyle ");
        push_comma_list(&mut out, "", &critical_links);
        let _ = writeln!(out, " stroke:{CRITICAL_COLOUR},stroke-width:3px");
    }
    out
}

fn write_class_line(out: &mut String, steps: &[u32], class: &str) {
    out.push_str("    class ");
    push_comma_list(out, "s", steps);
    let _ = writeln!(out, " {class}");
}

/// A name made safe inside `["…"]`: quotes, markup and entity starters become entity codes,
/// line breaks become spaces.
fn label(name: &str) -> String {
    escape_with(name, |ch| match ch {
        '"' => Some("#quot;"),
        '#' => Some("#35;"),
        '<' => Some("#lt;"),
        '>' => Some("#gt;"),
        '&' => Some("#amp;"),
        '`' => Some("#96;"),
        '\n' | '\r' => Some(" "),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::label;

    #[test]
    fn labels_escape_everything_that_could_end_them() {
        assert_eq!(
            label(r#"a "b" #1 <x> & `y`"#),
            "a #quot;b#quot; #35;1 #lt;x#gt; #amp; #96;y#96;"
        );
        assert_eq!(label("two\nlines"), "two lines");
    }
}
