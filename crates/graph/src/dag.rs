//! [`Dag`]: the step graph every analysis and picture works on.
//!
//! Steps are numbered `0..len` in template (or stored-row) order, and that order is the
//! tie-break everywhere, so two runs over the same input give the same answer. The graph is
//! built once and never changes; the topological order and levels are computed at
//! construction because every analysis needs them.
//!
//! Cycles are allowed (a template file under review may have one). Kahn's algorithm orders
//! every step it can; the steps it cannot — those on a cycle or downstream of one — get no
//! level and are left out of the topological order, so the analyses see the acyclic part.

use crate::error::GraphError;
use crate::ordered_map::OrderedMap;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use tasker_model::TaskTemplate;
use tasker_resolver::TemplateGraph;

/// The level of a step on or after a cycle: it has none.
pub(crate) const UNLEVELLED: u32 = u32::MAX;

/// Adjacency lists packed into two arrays: contiguous memory is what keeps a 10,000-step
/// walk cheap.
#[derive(Debug, Clone, Default)]
struct Csr {
    offsets: Vec<usize>,
    targets: Vec<u32>,
}

impl Csr {
    #[inline]
    fn of(&self, i: u32) -> &[u32] {
        let i = i as usize;
        &self.targets[self.offsets[i]..self.offsets[i + 1]]
    }

    fn get(&self, i: u32) -> Option<&[u32]> {
        let i = i as usize;
        let (&start, &end) = (self.offsets.get(i)?, self.offsets.get(i + 1)?);
        self.targets.get(start..end)
    }
}

/// An immutable step graph: names, parents, children, topological order and levels.
#[derive(Debug, Clone)]
pub struct Dag {
    names: Vec<Arc<str>>,
    parents: Csr,
    children: Csr,
    /// Kahn's order over the acyclic part: roots in step order first, then FIFO.
    topo: Vec<u32>,
    /// Per step: 0 for roots, else 1 + deepest parent; [`UNLEVELLED`] on or after a cycle.
    levels: Vec<u32>,
    depth: usize,
    /// Built on first lookup: analyses work by index and never need it.
    index: OnceLock<HashMap<Arc<str>, u32>>,
}

/// Every step downstream of one step.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DownstreamImpact {
    /// Names of all transitive descendants, in step order (the step itself excluded even when
    /// it sits on a cycle).
    pub steps: Vec<Arc<str>>,
    /// `steps.len()`.
    pub count: usize,
}

impl Dag {
    /// A graph from step names and, per step, the indices of its parents. Repeated parents
    /// are kept once (first mention); a step may name itself (a one-step cycle). Names are not
    /// required to be unique, but [`Dag::index_of`] then finds only the first.
    pub fn new<N: Into<Arc<str>>>(
        names: impl IntoIterator<Item = N>,
        parents: Vec<Vec<u32>>,
    ) -> Result<Dag, GraphError> {
        let names: Vec<Arc<str>> = names.into_iter().map(Into::into).collect();
        if names.len() != parents.len() {
            return Err(GraphError::LengthMismatch {
                names: names.len(),
                parents: parents.len(),
            });
        }
        if u32::try_from(names.len()).is_err() {
            return Err(GraphError::TooManySteps { steps: names.len() });
        }
        for (i, ps) in parents.iter().enumerate() {
            if let Some(&bad) = ps.iter().find(|&&p| p as usize >= names.len()) {
                return Err(GraphError::ParentOutOfRange {
                    step: names[i].to_string(),
                    index: i as u32,
                    parent: bad,
                    len: names.len(),
                });
            }
        }
        Ok(Dag::build(names, &parents))
    }

    /// A graph from a compiled template (acyclic by construction).
    pub fn from_template_graph(graph: &TemplateGraph) -> Dag {
        let len = graph.len() as u32;
        let names = (0..len).map(|i| graph.name(i).clone()).collect();
        let parents: Vec<Vec<u32>> = (0..len).map(|i| graph.parents(i).to_vec()).collect();
        Dag::build(names, &parents)
    }

    /// A graph from a parsed template, cycles and all (unlike `TemplateGraph::compile`, which
    /// refuses them). A dependency on a name no step has is an error naming the template and
    /// step: guessing what was meant would draw a picture of a workflow nobody wrote.
    /// (`TaskTemplate::from_yaml` already refuses those; this guards hand-built templates.)
    pub fn from_template(template: &TaskTemplate) -> Result<Dag, GraphError> {
        let steps = &template.step_templates;
        let mut index: HashMap<&str, u32> = HashMap::with_capacity(steps.len());
        for (i, step) in steps.iter().enumerate() {
            index.entry(step.name.as_str()).or_insert(i as u32);
        }
        let mut parents = Vec::with_capacity(steps.len());
        for step in steps {
            let mut ps = Vec::new();
            for name in step.parents() {
                let p = index
                    .get(name)
                    .ok_or_else(|| GraphError::UnknownDependency {
                        template: format!("{} (task {})", template.source, template.name),
                        step: step.name.clone(),
                        parent: name.to_string(),
                    })?;
                ps.push(*p);
            }
            parents.push(ps);
        }
        Dag::new(steps.iter().map(|s| s.name.as_str()), parents)
    }

    /// Packs the lists, then orders and levels the steps. Indices are already checked.
    fn build(names: Vec<Arc<str>>, parent_lists: &[Vec<u32>]) -> Dag {
        let n = names.len();
        // `seen[p] == child + 1` marks p as already recorded for this child: repeats are
        // dropped in O(edges) even for a join with thousands of parents.
        let mut seen = vec![0u32; n];
        let mut offsets = Vec::with_capacity(n + 1);
        let mut targets = Vec::with_capacity(parent_lists.iter().map(Vec::len).sum());
        let mut out_degree = vec![0usize; n];
        offsets.push(0);
        for (child, ps) in parent_lists.iter().enumerate() {
            let stamp = child as u32 + 1;
            for &p in ps {
                if seen[p as usize] != stamp {
                    seen[p as usize] = stamp;
                    targets.push(p);
                    out_degree[p as usize] += 1;
                }
            }
            offsets.push(targets.len());
        }
        let parents = Csr { offsets, targets };

        // Children in ascending step order, so walks and tie-breaks follow step order.
        let mut child_offsets = Vec::with_capacity(n + 1);
        child_offsets.push(0);
        for d in &out_degree {
            child_offsets.push(child_offsets.last().copied().unwrap_or(0) + d);
        }
        let mut fill = child_offsets.clone();
        let mut child_targets = vec![0u32; parents.targets.len()];
        for child in 0..n as u32 {
            for &p in parents.of(child) {
                child_targets[fill[p as usize]] = child;
                fill[p as usize] += 1;
            }
        }
        let children = Csr {
            offsets: child_offsets,
            targets: child_targets,
        };

        let (topo, levels, depth) = kahn(n, &parents, &children);
        Dag {
            names,
            parents,
            children,
            topo,
            levels,
            depth,
            index: OnceLock::new(),
        }
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the graph has no steps.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Number of dependency edges (repeats removed).
    pub fn edge_count(&self) -> usize {
        self.parents.targets.len()
    }

    /// Every step's name, in step order.
    pub fn names(&self) -> &[Arc<str>] {
        &self.names
    }

    /// The step's name, or `None` when there is no such step.
    pub fn name(&self, step: u32) -> Option<&Arc<str>> {
        self.names.get(step as usize)
    }

    /// The first step called `name`.
    pub fn index_of(&self, name: &str) -> Option<u32> {
        let index = self.index.get_or_init(|| {
            let mut m = HashMap::with_capacity(self.names.len());
            for (i, n) in self.names.iter().enumerate() {
                m.entry(n.clone()).or_insert(i as u32);
            }
            m
        });
        index.get(name).copied()
    }

    /// The steps `step` depends on, in the order they were given.
    pub fn parents(&self, step: u32) -> Option<&[u32]> {
        self.parents.get(step)
    }

    /// The steps that depend on `step`, in step order.
    pub fn children(&self, step: u32) -> Option<&[u32]> {
        self.children.get(step)
    }

    /// Every step not on or after a cycle, parents before children (all steps when acyclic).
    pub fn topological_order(&self) -> &[u32] {
        &self.topo
    }

    /// Whether the graph has no dependency cycle.
    pub fn is_acyclic(&self) -> bool {
        self.topo.len() == self.names.len()
    }

    /// The step's level (0 for roots, else 1 + its deepest parent); `None` for a step on or
    /// after a cycle, or no such step.
    pub fn level(&self, step: u32) -> Option<u32> {
        self.levels
            .get(step as usize)
            .copied()
            .filter(|&l| l != UNLEVELLED)
    }

    /// Steps grouped by level, each group in step order; steps on or after a cycle are left
    /// out.
    pub fn levels(&self) -> Vec<Vec<u32>> {
        let mut out = vec![Vec::new(); self.depth];
        for (i, &l) in self.levels.iter().enumerate() {
            if l != UNLEVELLED {
                out[l as usize].push(i as u32);
            }
        }
        out
    }

    /// Number of steps on each level (`levels()[k].len()`), without building the groups.
    pub fn width_per_level(&self) -> Vec<usize> {
        let mut out = vec![0usize; self.depth];
        for &l in &self.levels {
            if l != UNLEVELLED {
                out[l as usize] += 1;
            }
        }
        out
    }

    /// Steps with no parents, in step order.
    pub fn roots(&self) -> Vec<u32> {
        (0..self.len() as u32)
            .filter(|&i| self.parents.of(i).is_empty())
            .collect()
    }

    /// Steps with no children, in step order.
    pub fn leaves(&self) -> Vec<u32> {
        (0..self.len() as u32)
            .filter(|&i| self.children.of(i).is_empty())
            .collect()
    }

    /// The longest root-to-leaf path by number of steps, over the acyclic part; ties go to
    /// the path ending, then branching, at the earlier step.
    pub fn longest_path(&self) -> Vec<u32> {
        // A step's level is its path length minus one, so the levels already hold the
        // answer: end at the first deepest step, step back to the first parent one level up.
        let Some(mut at) = (0..self.len() as u32)
            .filter(|&i| self.levels[i as usize] != UNLEVELLED)
            .max_by(|&a, &b| {
                self.levels[a as usize]
                    .cmp(&self.levels[b as usize])
                    .then(b.cmp(&a))
            })
        else {
            return Vec::new();
        };
        let mut path = vec![at];
        while self.levels[at as usize] > 0 {
            let up = self.levels[at as usize] - 1;
            match self
                .parents
                .of(at)
                .iter()
                .copied()
                .filter(|&p| self.levels[p as usize] == up)
                .min()
            {
                Some(p) => at = p,
                None => break, // unreachable: a level above 0 comes from such a parent
            }
            path.push(at);
        }
        path.reverse();
        path
    }

    /// Every step downstream of `step` (transitively), in step order; `None` when there is no
    /// such step. Linear in the size of what it reaches.
    pub fn downstream(&self, step: u32) -> Option<Vec<u32>> {
        if step as usize >= self.len() {
            return None;
        }
        let mut seen = vec![false; self.len()];
        let mut stack = vec![step];
        let mut out = Vec::new();
        while let Some(v) = stack.pop() {
            for &c in self.children.of(v) {
                if !seen[c as usize] {
                    seen[c as usize] = true;
                    stack.push(c);
                    if c != step {
                        out.push(c);
                    }
                }
            }
        }
        out.sort_unstable();
        Some(out)
    }

    /// [`Dag::downstream`] as names with a count.
    pub fn downstream_impact(&self, step: u32) -> Option<DownstreamImpact> {
        let steps: Vec<Arc<str>> = self
            .downstream(step)?
            .into_iter()
            .map(|i| self.name_of(i).clone())
            .collect();
        Some(DownstreamImpact {
            count: steps.len(),
            steps,
        })
    }

    /// Step name → names of its parents, both in step order (parents as given).
    pub fn dependency_map(&self) -> OrderedMap<Arc<str>, Vec<Arc<str>>> {
        (0..self.len() as u32)
            .map(|i| {
                let ps = self
                    .parents
                    .of(i)
                    .iter()
                    .map(|&p| self.name_of(p).clone())
                    .collect();
                (self.name_of(i).clone(), ps)
            })
            .collect()
    }

    // Unchecked accessors for indices the crate produced itself.

    #[inline]
    pub(crate) fn name_of(&self, step: u32) -> &Arc<str> {
        &self.names[step as usize]
    }

    #[inline]
    pub(crate) fn parents_of(&self, step: u32) -> &[u32] {
        self.parents.of(step)
    }

    #[inline]
    pub(crate) fn children_of(&self, step: u32) -> &[u32] {
        self.children.of(step)
    }

    #[inline]
    pub(crate) fn raw_level(&self, step: u32) -> u32 {
        self.levels[step as usize]
    }
}

/// Kahn's algorithm: the topological order of every step it can reach, each step's level,
/// and the number of levels. Roots are queued in step order and the queue is FIFO, so the
/// order is deterministic and roughly level by level.
fn kahn(n: usize, parents: &Csr, children: &Csr) -> (Vec<u32>, Vec<u32>, usize) {
    let mut waiting: Vec<u32> = (0..n as u32).map(|i| parents.of(i).len() as u32).collect();
    let mut levels = vec![0u32; n];
    let mut order: Vec<u32> = (0..n as u32)
        .filter(|&i| waiting[i as usize] == 0)
        .collect();
    order.reserve(n - order.len());
    let mut head = 0;
    while let Some(&v) = order.get(head) {
        head += 1;
        let next = levels[v as usize] + 1;
        for &c in children.of(v) {
            let c = c as usize;
            levels[c] = levels[c].max(next);
            waiting[c] -= 1;
            if waiting[c] == 0 {
                order.push(c as u32);
            }
        }
    }
    let mut depth = 0;
    for (i, l) in levels.iter_mut().enumerate() {
        if waiting[i] > 0 {
            *l = UNLEVELLED;
        } else {
            depth = depth.max(*l as usize + 1);
        }
    }
    (order, levels, depth)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dag(parents: Vec<Vec<u32>>) -> Dag {
        let names: Vec<String> = (0..parents.len()).map(|i| format!("s{i}")).collect();
        Dag::new(names, parents).unwrap()
    }

    #[test]
    fn repeated_parents_are_kept_once_and_children_are_sorted() {
        let d = dag(vec![vec![], vec![], vec![1, 0, 1, 0]]);
        assert_eq!(d.parents(2), Some(&[1, 0][..]));
        assert_eq!(d.children(0), Some(&[2][..]));
        assert_eq!(d.edge_count(), 2);
        assert_eq!(d.levels(), vec![vec![0, 1], vec![2]]);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(matches!(
            Dag::new(["a"], vec![vec![3]]),
            Err(GraphError::ParentOutOfRange {
                parent: 3,
                len: 1,
                ..
            })
        ));
        assert!(matches!(
            Dag::new(["a", "b"], vec![vec![]]),
            Err(GraphError::LengthMismatch {
                names: 2,
                parents: 1
            })
        ));
        let d = dag(vec![vec![]]);
        assert_eq!(d.parents(7), None);
        assert_eq!(d.children(7), None);
        assert_eq!(d.name(7), None);
        assert_eq!(d.level(7), None);
        assert_eq!(d.downstream(7), None);
    }

    #[test]
    fn steps_on_or_after_a_cycle_have_no_level() {
        // 0 -> 1 -> 2 -> 1, 2 -> 3; 4 alone.
        let d = dag(vec![vec![], vec![0, 2], vec![1], vec![2], vec![]]);
        assert!(!d.is_acyclic());
        assert_eq!(d.topological_order(), &[0, 4]);
        assert_eq!(d.level(1), None);
        assert_eq!(d.level(3), None);
        assert_eq!(d.levels(), vec![vec![0, 4]]);
        assert_eq!(d.downstream(1), Some(vec![2, 3]));
    }
}
