//! One task's runtime DAG: a remaining-parent counter per step.
//!
//! The orchestrator calls [`RuntimeDag::satisfy`] when a step completes (or is resolved
//! manually); each child's counter drops by one and the children that reach zero are the
//! newly runnable ones. That is O(out-degree) per completion, with no rescan of the task.

use crate::graph::TemplateGraph;

/// Remaining-parent counters for one task.
#[derive(Debug, Clone)]
pub struct RuntimeDag {
    remaining: Vec<u32>,
    satisfied: Vec<bool>,
}

impl RuntimeDag {
    /// A fresh task: every step waits for all of its parents.
    pub fn new(graph: &TemplateGraph) -> RuntimeDag {
        RuntimeDag {
            remaining: (0..graph.len() as u32)
                .map(|i| graph.parents(i).len() as u32)
                .collect(),
            satisfied: vec![false; graph.len()],
        }
    }

    /// Whether every parent of `step` is satisfied.
    #[inline]
    pub fn dependencies_met(&self, step: u32) -> bool {
        self.remaining[step as usize] == 0
    }

    /// Whether `step` itself has been marked satisfied.
    #[inline]
    pub fn is_satisfied(&self, step: u32) -> bool {
        self.satisfied[step as usize]
    }

    /// Marks `step` satisfied (complete or resolved_manually) and appends to `ready` each
    /// child whose last unsatisfied parent this was. Satisfying a step twice is a no-op, so
    /// a replayed completion can never ready a child early.
    pub fn satisfy(&mut self, graph: &TemplateGraph, step: u32, ready: &mut Vec<u32>) {
        if std::mem::replace(&mut self.satisfied[step as usize], true) {
            return;
        }
        for &child in graph.children(step) {
            let r = &mut self.remaining[child as usize];
            *r -= 1;
            if *r == 0 {
                ready.push(child);
            }
        }
    }

    /// Number of satisfied steps.
    pub fn satisfied_count(&self) -> usize {
        self.satisfied.iter().filter(|s| **s).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tasker_model::TaskTemplate;

    #[test]
    fn completion_readies_children_only_when_all_parents_are_done() {
        let t = TaskTemplate::from_yaml("name: d\nstep_templates:\n - {name: a, handler_class: H}\n - {name: b, handler_class: H, depends_on_step: a}\n - {name: c, handler_class: H, depends_on_step: a}\n - {name: d, handler_class: H, depends_on_steps: [b, c]}\n", "t").unwrap();
        let g = TemplateGraph::compile(&t).unwrap();
        let mut dag = RuntimeDag::new(&g);
        assert!(dag.dependencies_met(0) && !dag.dependencies_met(3));
        let mut ready = Vec::new();
        dag.satisfy(&g, 0, &mut ready);
        assert_eq!(ready, vec![1, 2]);
        ready.clear();
        dag.satisfy(&g, 1, &mut ready);
        assert!(ready.is_empty());
        dag.satisfy(&g, 1, &mut ready);
        assert!(
            ready.is_empty(),
            "a replayed completion must not count twice"
        );
        dag.satisfy(&g, 2, &mut ready);
        assert_eq!(ready, vec![3]);
        assert_eq!(dag.satisfied_count(), 3);
    }
}
