//! A layered (Sugiyama-style) drawing of a [`Dag`]: where each step's box goes and the
//! points each arrow passes through. Pure geometry: it knows box widths, not names, colours
//! or SVG, and it never fails.
//!
//! 1. **Layers**: cycles are broken by turning back the edges a depth-first walk (steps in
//!    step order) finds closing one; each step's layer is then its longest path from a root,
//!    which for an acyclic graph is exactly [`Dag::level`].
//! 2. **Dummies**: an edge spanning several layers gets one invisible point per layer it
//!    crosses, so it can be ordered and routed between boxes rather than through them. The
//!    number of dummies is capped (a chain of 10,000 steps whose root also feeds every step
//!    would need ~50 million): past the cap the longest edges are drawn as one curve.
//! 3. **Order within layers**: barycenter sweeps, down then up, keeping the order with the
//!    fewest crossings (counted exactly with a Fenwick tree, O(edges · log width)).
//! 4. **Coordinates**: each layer is placed as close as its boxes allow to the mean x of
//!    their neighbours in the layer above (then below, then above), by isotonic regression
//!    (pool adjacent violators), so boxes never overlap and keep their order.
//!
//! Everything is O((steps + dummies + edges) · log) per sweep, with ties broken by step
//! order, so the same graph always gets the same picture.

use crate::dag::Dag;

/// Height of a step's box.
pub(super) const NODE_HEIGHT: f64 = 30.0;
/// Vertical space between layers (where the arrows run).
const LAYER_GAP: f64 = 50.0;
/// Horizontal space between two boxes; half of it beside a dummy point.
const NODE_GAP: f64 = 24.0;
/// Space around the drawing (the right side also holds self-loops).
const MARGIN: f64 = 20.0;
/// Dummy points allowed per step + edge before long edges are drawn directly.
const DUMMIES_PER_ELEMENT: usize = 8;
/// Ordering sweeps tried (each down or up).
const SWEEPS: usize = 8;

/// Where everything goes. Node ids `0..steps` are steps; higher ids are dummy points.
pub(super) struct Layout {
    /// Centre x of each node.
    pub x: Vec<f64>,
    /// Top y of each node's layer.
    pub y: Vec<f64>,
    /// Box width of each step (0 for dummies).
    pub width: Vec<f64>,
    /// One per edge of the graph, in child order then parent order.
    pub routes: Vec<Route>,
    /// Size of the drawing.
    pub canvas: (f64, f64),
}

/// The path of one graph edge through the layout.
pub(super) struct Route {
    pub parent: u32,
    pub child: u32,
    /// Drawn upward: the edge closes a cycle (or is a step depending on itself).
    pub back: bool,
    /// Dummy node ids in order from the parent's end to the child's.
    pub via: Vec<u32>,
}

/// Lays out `dag` with the given box widths (one per step).
pub(super) fn layout(dag: &Dag, widths: &[f64]) -> Layout {
    let n = dag.len();
    let (layer_of, mut routes) = layers(dag);
    let nodes = add_dummies(&layer_of, &mut routes, n);
    let layer_of = nodes.layer_of;
    let depth = layer_of.iter().map(|&l| l as usize + 1).max().unwrap_or(0);

    // Adjacency between consecutive layers only: what ordering and placement look at.
    let total = layer_of.len();
    let mut up: Vec<Vec<u32>> = vec![Vec::new(); total];
    let mut down: Vec<Vec<u32>> = vec![Vec::new(); total];
    for r in &routes {
        let (top, bottom) = if r.back {
            (r.child, r.parent)
        } else {
            (r.parent, r.child)
        };
        if top == bottom
            || (r.via.is_empty() && layer_of[bottom as usize] != layer_of[top as usize] + 1)
        {
            continue;
        }
        let mut prev = top;
        for &v in r.via.iter().chain(std::iter::once(&bottom)) {
            down[prev as usize].push(v);
            up[v as usize].push(prev);
            prev = v;
        }
    }

    let mut layers: Vec<Vec<u32>> = vec![Vec::new(); depth];
    for (v, &l) in layer_of.iter().enumerate() {
        layers[l as usize].push(v as u32);
    }
    order(&mut layers, &up, &down);

    let mut width = vec![0.0; total];
    width[..n].copy_from_slice(&widths[..n]);
    let x = place(&layers, &up, &down, &width);
    let y: Vec<f64> = layer_of
        .iter()
        .map(|&l| MARGIN + l as f64 * (NODE_HEIGHT + LAYER_GAP))
        .collect();
    let right = (0..total)
        .map(|v| x[v] + width[v] / 2.0)
        .fold(0.0, f64::max);
    let canvas = (
        right + MARGIN * 2.0,
        MARGIN * 2.0 + depth as f64 * NODE_HEIGHT + depth.saturating_sub(1) as f64 * LAYER_GAP,
    );
    for r in &mut routes {
        if r.back && !r.via.is_empty() {
            r.via.reverse();
        }
    }
    Layout {
        x,
        y,
        width,
        routes,
        canvas,
    }
}

/// Each step's layer, and one route per edge with `back` set where the edge closes a cycle.
fn layers(dag: &Dag) -> (Vec<u32>, Vec<Route>) {
    let n = dag.len();
    // Iterative depth-first walk: 0 unseen, 1 on the stack, 2 finished.
    let mut mark = vec![0u8; n];
    let mut back = std::collections::HashSet::new();
    let mut stack: Vec<(u32, usize)> = Vec::new();
    let starts = (0..n as u32)
        .filter(|&s| dag.parents_of(s).is_empty())
        .chain(0..n as u32);
    for start in starts {
        if mark[start as usize] != 0 {
            continue;
        }
        mark[start as usize] = 1;
        stack.push((start, 0));
        while let Some(&mut (v, ref mut next)) = stack.last_mut() {
            let children = dag.children_of(v);
            if let Some(&c) = children.get(*next) {
                *next += 1;
                match mark[c as usize] {
                    0 => {
                        mark[c as usize] = 1;
                        stack.push((c, 0));
                    }
                    1 => {
                        back.insert((v, c));
                    }
                    _ => {}
                }
            } else {
                mark[v as usize] = 2;
                stack.pop();
            }
        }
    }

    let mut routes = Vec::with_capacity(dag.edge_count());
    let mut below: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut indegree = vec![0u32; n];
    for child in 0..n as u32 {
        for &parent in dag.parents_of(child) {
            let is_back = parent == child || back.contains(&(parent, child));
            routes.push(Route {
                parent,
                child,
                back: is_back,
                via: Vec::new(),
            });
            if parent == child {
                continue;
            }
            let (top, bottom) = if is_back {
                (child, parent)
            } else {
                (parent, child)
            };
            below[top as usize].push(bottom);
            indegree[bottom as usize] += 1;
        }
    }
    let mut layer = vec![0u32; n];
    let mut queue: std::collections::VecDeque<u32> = (0..n as u32)
        .filter(|&s| indegree[s as usize] == 0)
        .collect();
    while let Some(v) = queue.pop_front() {
        for &c in &below[v as usize] {
            layer[c as usize] = layer[c as usize].max(layer[v as usize] + 1);
            indegree[c as usize] -= 1;
            if indegree[c as usize] == 0 {
                queue.push_back(c);
            }
        }
    }
    (layer, routes)
}

struct Nodes {
    layer_of: Vec<u32>,
}

/// Gives each route spanning more than one layer its dummy points, shortest spans first
/// until the cap is reached.
fn add_dummies(layer_of: &[u32], routes: &mut [Route], steps: usize) -> Nodes {
    let span = |r: &Route| -> u32 {
        let (a, b) = (layer_of[r.parent as usize], layer_of[r.child as usize]);
        a.abs_diff(b)
    };
    let mut spans: Vec<(u32, usize)> = routes
        .iter()
        .enumerate()
        .filter(|(_, r)| span(r) > 1)
        .map(|(i, r)| (span(r), i))
        .collect();
    spans.sort_unstable();
    let cap = DUMMIES_PER_ELEMENT * (steps + routes.len());
    let mut out = layer_of.to_vec();
    for (s, i) in spans {
        if out.len() - steps + (s as usize - 1) > cap {
            break;
        }
        let r = &mut routes[i];
        let top = if r.back { r.child } else { r.parent };
        let first = layer_of[top as usize];
        for k in 1..s {
            r.via.push(out.len() as u32);
            out.push(first + k);
        }
    }
    Nodes { layer_of: out }
}

/// Reorders each layer to reduce crossings; keeps the best order seen.
fn order(layers: &mut [Vec<u32>], up: &[Vec<u32>], down: &[Vec<u32>]) {
    let total = up.len();
    let mut pos = vec![0u32; total];
    let reindex = |layers: &[Vec<u32>], pos: &mut [u32]| {
        for layer in layers {
            for (i, &v) in layer.iter().enumerate() {
                pos[v as usize] = i as u32;
            }
        }
    };
    reindex(layers, &mut pos);
    let mut best = layers.to_vec();
    let mut best_crossings = crossings(layers, down, &pos);
    let mut bary: Vec<(f64, u32, u32)> = Vec::new();
    for sweep in 0..SWEEPS {
        if best_crossings == 0 {
            break;
        }
        let downward = sweep % 2 == 0;
        let indices: Vec<usize> = if downward {
            (1..layers.len()).collect()
        } else {
            (0..layers.len().saturating_sub(1)).rev().collect()
        };
        let neighbours = if downward { up } else { down };
        for l in indices {
            bary.clear();
            for &v in &layers[l] {
                let ns = &neighbours[v as usize];
                let b = if ns.is_empty() {
                    pos[v as usize] as f64
                } else {
                    ns.iter().map(|&u| pos[u as usize] as f64).sum::<f64>() / ns.len() as f64
                };
                bary.push((b, pos[v as usize], v));
            }
            bary.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for (i, &(_, _, v)) in bary.iter().enumerate() {
                layers[l][i] = v;
                pos[v as usize] = i as u32;
            }
        }
        let c = crossings(layers, down, &pos);
        if c < best_crossings {
            best_crossings = c;
            best.clone_from_slice(layers);
        }
    }
    layers.clone_from_slice(&best);
}

/// Edge crossings between consecutive layers: inversions among the lower ends when the
/// edges are sorted by their upper ends.
fn crossings(layers: &[Vec<u32>], down: &[Vec<u32>], pos: &[u32]) -> u64 {
    let mut total = 0u64;
    let mut ends: Vec<u32> = Vec::new();
    for pair in layers.windows(2) {
        let width = pair[1].len();
        ends.clear();
        for &v in &pair[0] {
            let start = ends.len();
            ends.extend(down[v as usize].iter().map(|&c| pos[c as usize]));
            ends[start..].sort_unstable();
        }
        // Fenwick tree over lower positions: for each edge, count earlier edges ending to
        // its right.
        let mut tree = vec![0u32; width + 1];
        for (seen, &e) in ends.iter().enumerate() {
            let mut i = e as usize + 1;
            let mut not_right = 0u64;
            while i > 0 {
                not_right += tree[i] as u64;
                i &= i - 1;
            }
            total += seen as u64 - not_right;
            let mut i = e as usize + 1;
            while i <= width {
                tree[i] += 1;
                i += i & i.wrapping_neg();
            }
        }
    }
    total
}

/// Centre x of every node: layers packed, then pulled toward their neighbours.
fn place(layers: &[Vec<u32>], up: &[Vec<u32>], down: &[Vec<u32>], width: &[f64]) -> Vec<f64> {
    let total = width.len();
    let mut x = vec![0.0; total];
    let gap = |a: u32, b: u32| {
        let dummy = |v: u32| width[v as usize] == 0.0;
        let g = if dummy(a) || dummy(b) {
            NODE_GAP / 2.0
        } else {
            NODE_GAP
        };
        (width[a as usize] + width[b as usize]) / 2.0 + g
    };
    for layer in layers {
        let mut at = 0.0;
        for (i, &v) in layer.iter().enumerate() {
            if i > 0 {
                at += gap(layer[i - 1], v);
            }
            x[v as usize] = at;
        }
    }
    let mut desired = Vec::new();
    for pass in 0..3 {
        let downward = pass % 2 == 0;
        let neighbours = if downward { up } else { down };
        let indices: Vec<usize> = if downward {
            (0..layers.len()).collect()
        } else {
            (0..layers.len()).rev().collect()
        };
        for l in indices {
            let layer = &layers[l];
            desired.clear();
            for &v in layer {
                let ns = &neighbours[v as usize];
                desired.push(if ns.is_empty() {
                    x[v as usize]
                } else {
                    ns.iter().map(|&u| x[u as usize]).sum::<f64>() / ns.len() as f64
                });
            }
            let gaps: Vec<f64> = layer.windows(2).map(|w| gap(w[0], w[1])).collect();
            for (v, at) in layer.iter().zip(separate(&desired, &gaps)) {
                x[*v as usize] = at;
            }
        }
    }
    let left = (0..total)
        .map(|v| x[v] - width[v] / 2.0)
        .fold(f64::INFINITY, f64::min);
    let shift = if left.is_finite() { MARGIN - left } else { 0.0 };
    for v in &mut x {
        *v += shift;
    }
    x
}

/// Positions as close as possible (least squares) to `desired`, in order, with at least
/// `gaps[i]` between the i-th and the next: pool adjacent violators on positions with the
/// cumulative gaps taken out.
fn separate(desired: &[f64], gaps: &[f64]) -> Vec<f64> {
    let mut offset = Vec::with_capacity(desired.len());
    let mut acc = 0.0;
    for i in 0..desired.len() {
        if i > 0 {
            acc += gaps[i - 1];
        }
        offset.push(acc);
    }
    // Blocks of (sum of targets, count); each block sits at its mean.
    let mut blocks: Vec<(f64, usize)> = Vec::with_capacity(desired.len());
    for (d, o) in desired.iter().zip(&offset) {
        blocks.push((d - o, 1));
        while blocks.len() > 1 {
            let (s2, c2) = blocks[blocks.len() - 1];
            let (s1, c1) = blocks[blocks.len() - 2];
            if s1 / c1 as f64 <= s2 / c2 as f64 {
                break;
            }
            blocks.pop();
            let last = blocks.len() - 1;
            blocks[last] = (s1 + s2, c1 + c2);
        }
    }
    let mut out = Vec::with_capacity(desired.len());
    for (s, c) in blocks {
        let at = s / c as f64;
        for _ in 0..c {
            out.push(at + offset[out.len()]);
        }
    }
    out
}
