//! SVG drawn here, with no Graphviz: the layout comes from [`super::layout`], this file
//! writes the document, its steps and its legend; edges are `svg_edge.rs`'s, the error
//! marks `svg_marks.rs`'s, escaping and numbers `svg_text.rs`'s.
//!
//! The markup is meant to be styled and scripted by a web page as well as viewed alone:
//! colours are presentation attributes (which any CSS rule overrides), and every step is
//! `<g class="step state-<state>" id="step-<index>" data-step="<name>">` holding a `<title>`
//! (shown on hover), a `<rect>` and a `<text>`. Extra classes: `critical` on the marked
//! path's steps and edges, `failed` on steps in error, `error-chain` on a failed step's
//! error chain — its ancestors (every step it depended on, up to the roots) and the edges
//! among them and into it — `blocked` on the unfinished (pending or in-progress) steps
//! downstream of a failed one and on the edges leading to them from a failed or blocked
//! step, `back` on edges that close a cycle (drawn upward). Edges are
//! `<path class="edge" data-from="<parent index>" data-to="<child index>">`. A template
//! (no facts) has no `state-…` class; a task's picture ends with a `<g class="legend">` row
//! (the states present and the marked path) below the graph.
//!
//! Names are XML-escaped everywhere; characters XML cannot hold at all (most control
//! characters) become U+FFFD. Long names are shortened in the box, never in `data-step` or
//! the title. Numbers are written with at most one decimal, so the same graph always gives
//! byte-identical output.

use super::layout::{layout, Layout, Route, NODE_HEIGHT};
use super::svg_edge::{ports, write_edge, BLOCKED_COLOUR, EDGE_COLOUR, ERROR_CHAIN_COLOUR};
use super::svg_marks::{blocked_steps, chain_steps, Flags};
use super::svg_text::{attr, label, num, text, text_width, FONT_SIZE};
use super::{colours, state_of, Marked, CRITICAL_COLOUR, NEUTRAL_FILL, NEUTRAL_STROKE};
use crate::dag::Dag;
use crate::runtime_analysis::StepFacts;
use std::fmt::Write;
use tasker_model::State;

/// The graph as a standalone SVG document, laid out top to bottom (roots at the top).
/// `facts` (one per step) colour the steps by state; `critical` is a path of step indices
/// drawn thick and red. Never fails; see the module documentation for the markup.
pub fn to_svg(dag: &Dag, facts: Option<&[StepFacts]>, critical: &[u32]) -> String {
    let n = dag.len() as u32;
    let marked = Marked::new(dag, critical);
    let labels: Vec<String> = (0..n).map(|s| label(dag.name_of(s))).collect();
    let widths: Vec<f64> = labels.iter().map(|l| text_width(l)).collect();
    let lay = layout(dag, &widths);

    let mut out = String::with_capacity(1024 + dag.len() * 320 + dag.edge_count() * 160);
    let blocked = blocked_steps(dag, facts);
    let chain = chain_steps(dag, facts);
    let legend = legend_items(
        dag,
        facts,
        critical_marked(&marked, n),
        (chain.contains(&true), blocked.contains(&true)),
    );
    let legend_width = legend
        .iter()
        .map(|(text, _, _)| text_width(text) + 8.0)
        .sum::<f64>();
    let (w, h) = if legend.is_empty() {
        lay.canvas
    } else {
        (
            lay.canvas.0.max(legend_width + LEGEND_X * 2.0),
            lay.canvas.1 + LEGEND_HEIGHT,
        )
    };
    out.push_str("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"tasker-graph\" viewBox=\"0 0 ");
    num(&mut out, w);
    out.push(' ');
    num(&mut out, h);
    out.push_str("\" width=\"");
    num(&mut out, w);
    out.push_str("\" height=\"");
    num(&mut out, h);
    let _ = writeln!(
        out,
        "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"{FONT_SIZE}\">"
    );
    out.push_str("<defs>\n");
    for (id, colour) in [
        ("tasker-arrow", EDGE_COLOUR),
        ("tasker-arrow-critical", CRITICAL_COLOUR),
        ("tasker-arrow-error", ERROR_CHAIN_COLOUR),
    ] {
        let _ = writeln!(
            out,
            "<marker id=\"{id}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"9\" markerHeight=\"9\" markerUnits=\"userSpaceOnUse\" orient=\"auto\"><path d=\"M0,0L10,5L0,10z\" fill=\"{colour}\"/></marker>"
        );
    }
    out.push_str("</defs>\n");

    // Plain edges first, then error chains, then the marked path, so the ones that matter
    // are drawn on top.
    let failed = |s: u32| state_of(facts, s) == Some(State::Error);
    let flags = |r: &Route| Flags {
        critical: marked.edge(r.parent, r.child),
        failed: false,
        chain: failed(r.child) || chain[r.child as usize],
        blocked: blocked[r.child as usize] && (failed(r.parent) || blocked[r.parent as usize]),
    };
    let mut edges: Vec<(u8, usize)> = lay
        .routes
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let f = flags(r);
            let rank = if f.critical {
                2
            } else if f.chain || f.blocked {
                1
            } else {
                0
            };
            (rank, i)
        })
        .collect();
    let ports = ports(&lay);
    edges.sort_by_key(|&(rank, _)| rank);
    out.push_str("<g class=\"edges\">\n");
    for (_, i) in edges {
        let r = &lay.routes[i];
        write_edge(&mut out, &lay, r, ports[i], flags(r));
    }
    out.push_str("</g>\n<g class=\"steps\">\n");
    for s in 0..n {
        write_step(
            &mut out,
            dag,
            facts,
            &lay,
            s,
            &labels[s as usize],
            Flags {
                critical: marked.step(s),
                failed: failed(s),
                chain: chain[s as usize],
                blocked: blocked[s as usize],
            },
        );
    }
    out.push_str("</g>\n");
    write_legend(&mut out, &legend, h - LEGEND_HEIGHT);
    out.push_str("</svg>\n");
    out
}

fn write_step(
    out: &mut String,
    dag: &Dag,
    facts: Option<&[StepFacts]>,
    lay: &Layout,
    s: u32,
    label: &str,
    flags: Flags,
) {
    let critical = flags.critical;
    let name = dag.name_of(s);
    let fact = facts.and_then(|f| f.get(s as usize));
    let state = fact.map(|f| f.state);
    out.push_str("<g class=\"step");
    if let Some(st) = state {
        let _ = write!(out, " state-{}", st.as_str());
    }
    if critical {
        out.push_str(" critical");
    }
    if flags.failed {
        out.push_str(" failed");
    }
    if flags.chain {
        out.push_str(" error-chain");
    }
    if flags.blocked {
        out.push_str(" blocked");
    }
    let _ = write!(out, "\" id=\"step-{s}\" data-step=\"{}\"", attr(name));
    if let Some(f) = fact {
        let _ = write!(
            out,
            " data-state=\"{}\" data-step-id=\"{}\"",
            f.state.as_str(),
            f.id
        );
    }
    let _ = write!(out, "><title>{}", text(name));
    if let Some(st) = state {
        let _ = write!(out, " ({})", st.as_str());
    }
    out.push_str("</title><rect x=\"");
    let (x, y, w) = (lay.x[s as usize], lay.y[s as usize], lay.width[s as usize]);
    num(out, x - w / 2.0);
    out.push_str("\" y=\"");
    num(out, y);
    out.push_str("\" width=\"");
    num(out, w);
    let _ = write!(out, "\" height=\"{NODE_HEIGHT}\" rx=\"6\"");
    let (fill, stroke) = state.map_or((NEUTRAL_FILL, NEUTRAL_STROKE), colours);
    let (stroke, stroke_width) = if critical {
        (CRITICAL_COLOUR, 3.0)
    } else if state == Some(State::Error) {
        (stroke, 2.5)
    } else if flags.chain {
        (ERROR_CHAIN_COLOUR, 2.0)
    } else {
        (stroke, 1.2)
    };
    let dash = if flags.blocked && !critical {
        " stroke-dasharray=\"4 3\""
    } else {
        ""
    };
    let _ = write!(
        out,
        " fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{stroke_width}\"{dash}/><text x=\""
    );
    num(out, x);
    out.push_str("\" y=\"");
    // The baseline a little below the middle centres lowercase text without relying on
    // dominant-baseline, which some renderers ignore.
    num(out, y + NODE_HEIGHT / 2.0 + FONT_SIZE * 0.35);
    let _ = writeln!(
        out,
        "\" text-anchor=\"middle\" fill=\"#212121\">{}</text></g>",
        text(label)
    );
}

/// Space below the graph for the legend, and its left margin.
const LEGEND_HEIGHT: f64 = 34.0;
const LEGEND_X: f64 = 20.0;

fn critical_marked(marked: &Marked, n: u32) -> bool {
    (0..n).any(|s| marked.step(s))
}

/// (text, fill, stroke) per legend entry: the states present, in [`State::ALL`] order, and
/// the marked path. Only for a task (a template's picture has no colours to explain).
fn legend_items(
    dag: &Dag,
    facts: Option<&[StepFacts]>,
    critical: bool,
    (chain, blocked): (bool, bool),
) -> Vec<(&'static str, &'static str, &'static str)> {
    if facts.is_none() || dag.is_empty() {
        return Vec::new();
    }
    let present: Vec<State> = (0..dag.len() as u32)
        .filter_map(|s| state_of(facts, s))
        .collect();
    let mut items: Vec<_> = State::ALL
        .into_iter()
        .filter(|s| present.contains(s))
        .map(|s| {
            let (fill, stroke) = colours(s);
            (s.as_str(), fill, stroke)
        })
        .collect();
    if chain {
        items.push(("error chain", NEUTRAL_FILL, ERROR_CHAIN_COLOUR));
    }
    if blocked {
        items.push(("blocked by an error", NEUTRAL_FILL, BLOCKED_COLOUR));
    }
    if critical {
        items.push(("critical path", NEUTRAL_FILL, CRITICAL_COLOUR));
    }
    items
}

/// One row of small boxes, each in its entry's colours, below the graph.
fn write_legend(out: &mut String, items: &[(&str, &str, &str)], top: f64) {
    if items.is_empty() {
        return;
    }
    out.push_str("<g class=\"legend\" font-size=\"11\">\n");
    let mut x = LEGEND_X;
    for (text, fill, stroke) in items {
        let w = text_width(text);
        out.push_str("<rect x=\"");
        num(out, x);
        out.push_str("\" y=\"");
        num(out, top + 6.0);
        out.push_str("\" width=\"");
        num(out, w);
        let _ = write!(
            out,
            "\" height=\"20\" rx=\"4\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.5\"/><text x=\""
        );
        num(out, x + w / 2.0);
        out.push_str("\" y=\"");
        num(out, top + 20.0);
        let _ = writeln!(
            out,
            "\" text-anchor=\"middle\" fill=\"#212121\">{text}</text>"
        );
        x += w + 8.0;
    }
    out.push_str("</g>\n");
}
