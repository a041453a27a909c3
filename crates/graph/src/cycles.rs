//! Finding the dependency cycles of a graph, to name them in a report.
//!
//! A graph can have exponentially many elementary cycles, so listing them all is neither
//! possible nor useful. Instead: one cycle per strongly connected component that has one
//! (Tarjan's algorithm, linear), namely the shortest cycle through the component's earliest
//! step. Every step that sits on some cycle belongs to exactly one reported component, so
//! fixing every reported cycle's component fixes the graph.

use crate::dag::{Dag, UNLEVELLED};
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::{HashMap, VecDeque};

impl Dag {
    /// One closed cycle (`[a, b, c, a]` as step indices) per strongly connected component
    /// that has one, ordered by first step; empty when acyclic. See
    /// [`crate::TemplateAnalysis::cycles`] for why not every cycle.
    ///
    /// Defined here, not in `dag.rs`, so the graph does not import its own analysis back.
    pub fn cycles(&self) -> Vec<Vec<u32>> {
        find_cycles(self)
    }
}

/// One closed cycle (`[a, b, c, a]`) per cyclic strongly connected component, ordered by
/// their first step. Empty for an acyclic graph.
fn find_cycles(dag: &Dag) -> Vec<Vec<u32>> {
    if dag.is_acyclic() {
        return Vec::new();
    }
    // Every cycle lies among the steps Kahn's algorithm could not order, so only those go
    // into the (petgraph) graph searched for components.
    let left: Vec<u32> = (0..dag.len() as u32)
        .filter(|&i| dag.raw_level(i) == UNLEVELLED)
        .collect();
    let mut local = vec![u32::MAX; dag.len()];
    let mut g: DiGraph<u32, ()> = DiGraph::with_capacity(left.len(), left.len());
    for &v in &left {
        local[v as usize] = g.add_node(v).index() as u32;
    }
    for &v in &left {
        for &c in dag.children_of(v) {
            let lc = local[c as usize];
            if lc != u32::MAX {
                g.add_edge(
                    NodeIndex::new(local[v as usize] as usize),
                    NodeIndex::new(lc as usize),
                    (),
                );
            }
        }
    }

    let mut component = vec![u32::MAX; dag.len()];
    let mut cycles = Vec::new();
    for (id, scc) in tarjan_scc(&g).into_iter().enumerate() {
        let members: Vec<u32> = scc.iter().map(|&n| g[n]).collect();
        for &m in &members {
            component[m as usize] = id as u32;
        }
        let Some(&start) = members.iter().min() else {
            continue;
        };
        let self_loop = dag.children_of(start).contains(&start);
        if members.len() > 1 || self_loop {
            if let Some(cycle) = shortest_cycle_through(dag, start, &component, id as u32) {
                cycles.push(cycle);
            }
        }
    }
    cycles.sort_unstable_by_key(|c| c.first().copied());
    cycles
}

/// Breadth-first search from `start` inside its component; the first edge back to `start`
/// closes the shortest cycle through it. Children are visited in step order, so among
/// equally short cycles the one through earlier steps wins.
fn shortest_cycle_through(dag: &Dag, start: u32, component: &[u32], id: u32) -> Option<Vec<u32>> {
    // Predecessor on the search tree; a map because a component is usually tiny next to
    // the graph.
    let mut pred: HashMap<u32, u32> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    pred.insert(start, start);
    while let Some(v) = queue.pop_front() {
        for &c in dag.children_of(v) {
            if c == start {
                let mut path = vec![start, v];
                let mut at = v;
                while at != start {
                    at = *pred.get(&at)?;
                    path.push(at);
                }
                path.reverse();
                return Some(path);
            }
            if component[c as usize] == id && !pred.contains_key(&c) {
                pred.insert(c, v);
                queue.push_back(c);
            }
        }
    }
    None
}
