//! SVG drawn here, with no Graphviz: the layout comes from [`super::layout`], this file only
//! writes it out.
//!
//! The markup is meant to be styled and scripted by a web page as well as viewed alone:
//! colours are presentation attributes (which any CSS rule overrides), and every step is
//! `<g class="step state-<state>" id="step-<index>" data-step="<name>">` holding a `<title>`
//! (shown on hover), a `<rect>` and a `<text>`. Extra classes: `critical` on the marked
//! path's steps and edges, `failed` on steps in error, `error-chain` on edges into a failed
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
use super::{
    colours, escape_with, state_of, Marked, CRITICAL_COLOUR, NEUTRAL_FILL, NEUTRAL_STROKE,
};
use crate::dag::Dag;
use crate::runtime_analysis::StepFacts;
use std::fmt::Write;
use tasker_model::State;

/// Characters of a name shown in its box; the rest is in the title.
const MAX_LABEL_CHARS: usize = 40;
/// Space between a box's border and its text.
const PADDING: f64 = 12.0;
const MIN_WIDTH: f64 = 48.0;
const FONT_SIZE: f64 = 12.0;
const EDGE_COLOUR: &str = "#757575";
const ERROR_CHAIN_COLOUR: &str = "#c62828";
/// Horizontal shift of an edge that closes a cycle, so it does not lie on the edge it
/// mirrors.
const BACK_OFFSET: f64 = 10.0;

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
    let legend = legend_items(dag, facts, critical_marked(&marked, n));
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
    let mut edges: Vec<(u8, usize)> = lay
        .routes
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let rank = if marked.edge(r.parent, r.child) {
                2
            } else if failed(r.child) {
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
        let critical = marked.edge(r.parent, r.child);
        write_edge(&mut out, &lay, r, ports[i], critical, failed(r.child));
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
            marked.step(s),
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
    critical: bool,
) {
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
    if state == Some(State::Error) {
        out.push_str(" failed");
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
    } else {
        (stroke, 1.2)
    };
    let _ = write!(
        out,
        " fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{stroke_width}\"/><text x=\""
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

/// Where each forward edge leaves its parent and enters its child (x): spread over the
/// middle of the box in the order of where the edges go, so a step with several children or
/// parents shows separate arrows that do not cross at the box. Edges that close a cycle use
/// the centre.
fn ports(lay: &Layout) -> Vec<(f64, f64)> {
    let mut at: Vec<(f64, f64)> = lay
        .routes
        .iter()
        .map(|r| (lay.x[r.parent as usize], lay.x[r.child as usize]))
        .collect();
    // (step, x of the other end's first hop, route): one list for leaving, one for entering.
    let mut leaving: Vec<(u32, f64, usize)> = Vec::new();
    let mut entering: Vec<(u32, f64, usize)> = Vec::new();
    for (i, r) in lay.routes.iter().enumerate() {
        if r.back || r.parent == r.child {
            continue;
        }
        let first = r.via.first().copied().unwrap_or(r.child);
        let last = r.via.last().copied().unwrap_or(r.parent);
        leaving.push((r.parent, lay.x[first as usize], i));
        entering.push((r.child, lay.x[last as usize], i));
    }
    for (list, leave) in [(&mut leaving, true), (&mut entering, false)] {
        list.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
        for group in list.chunk_by(|a, b| a.0 == b.0) {
            let step = group[0].0 as usize;
            let span = lay.width[step] * 0.6;
            let k = group.len() as f64;
            for (j, &(_, _, i)) in group.iter().enumerate() {
                let x = lay.x[step] + span * ((j as f64 + 0.5) / k - 0.5);
                if leave {
                    at[i].0 = x;
                } else {
                    at[i].1 = x;
                }
            }
        }
    }
    at
}

fn write_edge(
    out: &mut String,
    lay: &Layout,
    r: &Route,
    (from_x, to_x): (f64, f64),
    critical: bool,
    error_chain: bool,
) {
    out.push_str("<path class=\"edge");
    if r.back {
        out.push_str(" back");
    }
    if critical {
        out.push_str(" critical");
    }
    if error_chain {
        out.push_str(" error-chain");
    }
    let _ = write!(
        out,
        "\" data-from=\"{}\" data-to=\"{}\" d=\"",
        r.parent, r.child
    );
    let (p, c) = (r.parent as usize, r.child as usize);
    if r.parent == r.child {
        // A step that depends on itself: a loop on its right side.
        let right = lay.x[p] + lay.width[p] / 2.0;
        let top = lay.y[p];
        out.push('M');
        point(out, right, top + 8.0);
        out.push_str(" C");
        point(out, right + 30.0, top - 8.0);
        out.push(' ');
        point(out, right + 30.0, top + NODE_HEIGHT + 8.0);
        out.push(' ');
        point(out, right + 1.0, top + NODE_HEIGHT - 8.0);
    } else {
        // Forward edges leave the parent's bottom and enter the child's top; back edges
        // run upward, from the parent's top to the child's bottom, a little to the right.
        let (shift, leave, enter) = if r.back {
            (BACK_OFFSET, 0.0, NODE_HEIGHT)
        } else {
            (0.0, NODE_HEIGHT, 0.0)
        };
        let mut points = Vec::with_capacity(2 + r.via.len() * 2);
        points.push((from_x + shift, lay.y[p] + leave));
        for &d in &r.via {
            let (dx, dy) = (lay.x[d as usize] + shift, lay.y[d as usize]);
            points.push((dx, dy + NODE_HEIGHT - leave));
            points.push((dx, dy + leave));
        }
        points.push((to_x + shift, lay.y[c] + enter));
        out.push('M');
        point(out, points[0].0, points[0].1);
        // Pairs of points span a gap between layers (a vertical-tangent curve); the points
        // inside a pair-to-pair hop cross a dummy's layer (a straight line).
        for (i, pair) in points.windows(2).enumerate() {
            let ((ax, ay), (bx, by)) = (pair[0], pair[1]);
            if i % 2 == 0 {
                let mid = (ay + by) / 2.0;
                out.push_str(" C");
                point(out, ax, mid);
                out.push(' ');
                point(out, bx, mid);
                out.push(' ');
            } else {
                out.push_str(" L");
            }
            point(out, bx, by);
        }
    }
    let (stroke, width, marker, dash) = if critical {
        (CRITICAL_COLOUR, 3.0, "tasker-arrow-critical", "")
    } else if error_chain {
        (
            ERROR_CHAIN_COLOUR,
            2.0,
            "tasker-arrow-error",
            " stroke-dasharray=\"6 3\"",
        )
    } else {
        (EDGE_COLOUR, 1.4, "tasker-arrow", "")
    };
    let _ = writeln!(
        out,
        "\" fill=\"none\" stroke=\"{stroke}\" stroke-width=\"{width}\"{dash} marker-end=\"url(#{marker})\"/>"
    );
}

/// What a step's box shows: its name, shortened when long.
fn label(name: &str) -> String {
    if name.chars().count() <= MAX_LABEL_CHARS {
        return name.to_string();
    }
    let mut short: String = name.chars().take(MAX_LABEL_CHARS - 1).collect();
    short.push('…');
    short
}

/// A box wide enough for `label`, estimated from its characters (no font metrics here):
/// narrow, ordinary, wide Latin and full-width characters get different widths.
fn text_width(label: &str) -> f64 {
    let text: f64 = label
        .chars()
        .map(|ch| match ch {
            'i' | 'l' | 'j' | 't' | 'f' | 'r' | 'I' | '.' | ',' | ':' | ';' | '|' | '!' | '\''
            | ' ' => 0.32,
            'm' | 'w' | 'M' | 'W' | '@' => 0.9,
            'A'..='Z' | '_' => 0.68,
            c if c.is_ascii() => 0.56,
            c if is_wide(c) => 1.0,
            _ => 0.62,
        })
        .sum();
    (text * FONT_SIZE + 2.0 * PADDING).max(MIN_WIDTH).ceil()
}

/// East Asian wide characters and emoji, roughly: drawn about one em wide.
fn is_wide(c: char) -> bool {
    matches!(c as u32, 0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x1F300..=0x1FAFF | 0x20000..=0x3FFFD)
}

/// Characters XML 1.0 cannot contain, even escaped.
fn forbidden(ch: char) -> bool {
    (ch < ' ' && !matches!(ch, '\t' | '\n' | '\r')) || matches!(ch, '\u{FFFE}' | '\u{FFFF}')
}

/// `name` safe inside a double-quoted attribute, line breaks kept as character references.
fn attr(name: &str) -> String {
    escape_with(name, |ch| match ch {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '"' => Some("&quot;"),
        '\'' => Some("&apos;"),
        '\n' => Some("&#10;"),
        '\r' => Some("&#13;"),
        '\t' => Some("&#9;"),
        c if forbidden(c) => Some("\u{FFFD}"),
        _ => None,
    })
}

/// `name` safe as element text; line breaks become spaces (a box holds one line).
fn text(name: &str) -> String {
    escape_with(name, |ch| match ch {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '\n' | '\r' | '\t' => Some(" "),
        c if forbidden(c) => Some("\u{FFFD}"),
        _ => None,
    })
}

/// `x,y`.
fn point(out: &mut String, x: f64, y: f64) {
    num(out, x);
    out.push(',');
    num(out, y);
}

/// A coordinate with at most one decimal (and no `-0`), so output is compact and stable.
fn num(out: &mut String, v: f64) {
    let tenths = (v * 10.0).round() as i64;
    if tenths < 0 {
        out.push('-');
    }
    let t = tenths.unsigned_abs();
    let _ = write!(out, "{}", t / 10);
    match t % 10 {
        0 => {}
        tenth => {
            let _ = write!(out, ".{tenth}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{attr, label, num, text, text_width};

    #[test]
    fn names_are_escaped_for_attributes_and_text() {
        assert_eq!(
            attr("a<b>&\"c\"'\n\u{1}"),
            "a&lt;b&gt;&amp;&quot;c&quot;&apos;&#10;\u{FFFD}"
        );
        assert_eq!(text("a<b>&\"\nc\u{1b}"), "a&lt;b&gt;&amp;\" c\u{FFFD}");
    }

    #[test]
    fn long_names_are_shortened_and_widths_grow_with_text() {
        let long = "x".repeat(100);
        assert_eq!(label(&long).chars().count(), 40);
        assert!(label(&long).ends_with('…'));
        assert!(text_width("a_much_longer_step_name") > text_width("short"));
        assert!(text_width("注文を処理する") > text_width("abcdefg"));
    }

    #[test]
    fn numbers_have_at_most_one_decimal() {
        let mut out = String::new();
        for v in [0.0, -0.01, 12.34, -3.25, 100.0] {
            num(&mut out, v);
            out.push(' ');
        }
        assert_eq!(out, "0 0 12.3 -3.3 100 ");
    }
}
