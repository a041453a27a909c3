//! The SVG's edges: where each leaves its parent and enters its child (ports spread over a
//! box), and the `<path>` itself, curved between layers, its class and colours from the
//! step's marks (`svg_marks.rs`). Writes edges only; the document is `svg.rs`'s.

use super::layout::{Layout, Route, NODE_HEIGHT};
use super::svg_marks::Flags;
use super::svg_text::point;
use super::CRITICAL_COLOUR;
use std::fmt::Write;

pub(super) const EDGE_COLOUR: &str = "#757575";
pub(super) const ERROR_CHAIN_COLOUR: &str = "#c62828";
/// Edges to steps held back by an error: the error's colour, lighter.
pub(super) const BLOCKED_COLOUR: &str = "#e57373";
/// Horizontal shift of an edge that closes a cycle, so it does not lie on the edge it
/// mirrors.
const BACK_OFFSET: f64 = 10.0;

/// Where each forward edge leaves its parent and enters its child (x): spread over the
/// middle of the box in the order of where the edges go, so a step with several children or
/// parents shows separate arrows that do not cross at the box. Edges that close a cycle use
/// the centre.
pub(super) fn ports(lay: &Layout) -> Vec<(f64, f64)> {
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

pub(super) fn write_edge(
    out: &mut String,
    lay: &Layout,
    r: &Route,
    (from_x, to_x): (f64, f64),
    flags: Flags,
) {
    let (critical, error_chain) = (flags.critical, flags.chain);
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
    if flags.blocked {
        out.push_str(" blocked");
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
    } else if flags.blocked {
        (
            BLOCKED_COLOUR,
            1.6,
            "tasker-arrow-error",
            " stroke-dasharray=\"4 3\"",
        )
    } else {
        (EDGE_COLOUR, 1.4, "tasker-arrow", "")
    };
    let _ = writeln!(
        out,
        "\" fill=\"none\" stroke=\"{stroke}\" stroke-width=\"{width}\"{dash} marker-end=\"url(#{marker})\"/>"
    );
}
