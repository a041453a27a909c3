//! A running task's graph: where the time goes, what can run, what an error holds back.
//!
//! The caller supplies one [`StepFacts`] per step of the [`Dag`] (read from its store, with
//! readiness already decided by the resolver); nothing here decides readiness or reads a
//! store. Two words are used precisely throughout:
//! - *satisfied*: `complete` or `resolved_manually` — the step lets its children run
//!   ([`State::satisfies_dependents`]).
//! - *unfinished*: not satisfied and not `cancelled` — the step still has work to do. Error
//!   chains and bottlenecks count unfinished steps, since a cancelled step is held back by
//!   nothing.

mod reach;

use crate::dag::{Dag, DownstreamImpact};
use crate::error::GraphError;
use crate::ordered_map::OrderedMap;
use crate::paths::heaviest_path;
use crate::BOTTLENECK_LIMIT;
use rayon::prelude::*;
use reach::NOT_LISTED;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tasker_model::State;

/// What the caller knows about one step of a task, in the same order as the [`Dag`]'s steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepFacts {
    /// The stored step id (`workflow_step_id`).
    pub id: i64,
    /// The step's current state.
    pub state: State,
    /// Whether the step may run now (the resolver's verdict; not recomputed here).
    pub ready: bool,
    /// Run time of the last successful attempt, else the latest attempt; `None` if it never
    /// ran. Negative or non-finite values count as 0.
    pub duration_ms: Option<f64>,
}

/// The longest paths through the task, by step count and by recorded time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriticalPaths {
    /// Steps on the longest root-to-leaf path.
    pub longest_path_length: usize,
    /// That path's step names, root first. Ties go to earlier steps.
    pub longest_path: Vec<Arc<str>>,
    /// The same path as step indices (for [`crate::to_mermaid`] and [`crate::to_dot`]).
    #[serde(skip)]
    pub longest_path_steps: Vec<u32>,
    /// The root-to-leaf path with the largest sum of `duration_ms` (missing counts 0); among
    /// equal sums the one with more steps, then earlier steps.
    pub longest_duration_path: Vec<Arc<str>>,
    /// The same path as step indices.
    #[serde(skip)]
    pub longest_duration_path_steps: Vec<u32>,
    /// The sum of `duration_ms` along `longest_duration_path`.
    pub total_duration_ms: f64,
}

/// How much can run side by side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Parallelism {
    /// Steps ready now.
    pub current_parallel_opportunities: usize,
    /// Their names, in step order.
    pub ready_steps: Vec<Arc<str>>,
    /// The widest level: how many steps the shape lets run at once, at most.
    pub max_parallelism: usize,
    /// Steps per level, level 0 (the roots) first.
    pub width_per_level: Vec<usize>,
}

/// One step in error and the unfinished work behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorChain {
    /// The step's index in the [`Dag`] (not serialised: callers outside Rust use ids).
    #[serde(skip)]
    pub step: u32,
    pub name: Arc<str>,
    pub id: i64,
    /// Every unfinished step downstream of it, in step order.
    pub blocked_steps: Vec<Arc<str>>,
    /// The same steps as indices (not serialised; lets a caller convert names once per step
    /// rather than once per mention).
    #[serde(skip)]
    pub blocked_step_indices: Vec<u32>,
    /// `blocked_steps.len()`.
    pub blocked_count: usize,
}

/// Every step in error, in step order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorChains {
    pub total_error_steps: usize,
    pub chains: Vec<ErrorChain>,
}

/// A step that is not yet satisfied, and how much unfinished work waits downstream of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bottleneck {
    /// The step's index in the [`Dag`] (not serialised).
    #[serde(skip)]
    pub step: u32,
    pub name: Arc<str>,
    pub id: i64,
    pub state: State,
    /// Unfinished steps transitively downstream.
    pub downstream_count: usize,
}

/// Everything [`RuntimeGraph::analyze`] finds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuntimeAnalysis {
    pub critical_paths: CriticalPaths,
    pub parallelism_opportunities: Parallelism,
    pub error_chains: ErrorChains,
    /// Up to [`BOTTLENECK_LIMIT`] unsatisfied steps that hold back at least one unfinished
    /// step, most held back first, then in step order.
    pub bottlenecks: Vec<Bottleneck>,
}

/// A [`Dag`] with one [`StepFacts`] per step: a task at one moment.
#[derive(Debug, Clone, Copy)]
pub struct RuntimeGraph<'a> {
    dag: &'a Dag,
    facts: &'a [StepFacts],
}

impl<'a> RuntimeGraph<'a> {
    /// Pairs `dag` with `facts`; `facts[i]` describes step `i`, so the lengths must match.
    pub fn new(dag: &'a Dag, facts: &'a [StepFacts]) -> Result<RuntimeGraph<'a>, GraphError> {
        if dag.len() != facts.len() {
            return Err(GraphError::FactsMismatch {
                steps: dag.len(),
                facts: facts.len(),
            });
        }
        Ok(RuntimeGraph { dag, facts })
    }

    /// The graph.
    pub fn dag(&self) -> &'a Dag {
        self.dag
    }

    /// The facts, in step order.
    pub fn facts(&self) -> &'a [StepFacts] {
        self.facts
    }

    /// The step whose stored id is `id` (a linear scan).
    pub fn step_with_id(&self, id: i64) -> Option<u32> {
        self.facts.iter().position(|f| f.id == id).map(|i| i as u32)
    }

    /// Whether every parent of `step` is satisfied; `None` when there is no such step.
    pub fn dependencies_satisfied(&self, step: u32) -> Option<bool> {
        let parents = self.dag.parents(step)?;
        Some(parents.iter().all(|&p| self.satisfied(p)))
    }

    /// The parents of `step` that are not satisfied, in the order the step names them;
    /// `None` when there is no such step.
    pub fn blocking_dependencies(&self, step: u32) -> Option<Vec<Arc<str>>> {
        let parents = self.dag.parents(step)?;
        Some(
            parents
                .iter()
                .filter(|&&p| !self.satisfied(p))
                .map(|&p| self.dag.name_of(p).clone())
                .collect(),
        )
    }

    /// Every step downstream of `step`, whatever its state (see [`Dag::downstream_impact`]).
    pub fn downstream_impact(&self, step: u32) -> Option<DownstreamImpact> {
        self.dag.downstream_impact(step)
    }

    /// Step id → ids of its parents, in step order.
    pub fn runtime_dependency_graph(&self) -> OrderedMap<i64, Vec<i64>> {
        (0..self.dag.len() as u32)
            .map(|i| {
                let parents = self.dag.parents_of(i);
                let ids = parents.iter().map(|&p| self.facts[p as usize].id).collect();
                (self.facts[i as usize].id, ids)
            })
            .collect()
    }

    /// The full analysis. A task's graph must be acyclic (a stored task's always is); a cycle
    /// is an error naming it. Linear in steps + edges, except the descendant counts (see
    /// `reach.rs`): 1-3 ms for 10,000 steps.
    pub fn analyze(&self) -> Result<RuntimeAnalysis, GraphError> {
        if let Some(cycle) = self.dag.cycles().into_iter().next() {
            return Err(GraphError::Cycle {
                cycle: cycle
                    .iter()
                    .map(|&i| self.dag.name_of(i).to_string())
                    .collect(),
            });
        }
        let (error_chains, bottlenecks) = self.chains_and_bottlenecks();
        Ok(RuntimeAnalysis {
            critical_paths: self.critical_paths(),
            parallelism_opportunities: self.parallelism(),
            error_chains,
            bottlenecks,
        })
    }

    fn satisfied(&self, step: u32) -> bool {
        self.facts[step as usize].state.satisfies_dependents()
    }

    fn names(&self, steps: &[u32]) -> Vec<Arc<str>> {
        steps.iter().map(|&i| self.dag.name_of(i).clone()).collect()
    }

    /// Only the critical paths (what a picture marks), without the descendant counts the
    /// rest of [`RuntimeGraph::analyze`] needs. The graph must be acyclic.
    pub fn critical_paths(&self) -> CriticalPaths {
        let longest = self.dag.longest_path();
        let (timed, total) = heaviest_path(self.dag, |v| {
            self.facts[v as usize]
                .duration_ms
                .filter(|d| d.is_finite() && *d > 0.0)
                .unwrap_or(0.0)
        });
        CriticalPaths {
            longest_path_length: longest.len(),
            longest_path: self.names(&longest),
            longest_path_steps: longest,
            longest_duration_path: self.names(&timed),
            longest_duration_path_steps: timed,
            total_duration_ms: total,
        }
    }

    fn parallelism(&self) -> Parallelism {
        let ready: Vec<u32> = (0..self.facts.len() as u32)
            .filter(|&i| self.facts[i as usize].ready)
            .collect();
        let width_per_level = self.dag.width_per_level();
        Parallelism {
            current_parallel_opportunities: ready.len(),
            ready_steps: self.names(&ready),
            max_parallelism: width_per_level.iter().copied().max().unwrap_or(0),
            width_per_level,
        }
    }

    /// Error chains and bottlenecks share one reachability computation: both count the
    /// unfinished steps downstream of unsatisfied steps.
    fn chains_and_bottlenecks(&self) -> (ErrorChains, Vec<Bottleneck>) {
        let n = self.dag.len();
        let unsatisfied: Vec<bool> = self
            .facts
            .iter()
            .map(|f| !f.state.satisfies_dependents())
            .collect();
        let unfinished: Vec<bool> = self
            .facts
            .iter()
            .map(|f| !f.state.satisfies_dependents() && f.state != State::Cancelled)
            .collect();
        // Steps downstream of (or being) an unsatisfied step: the only ones whose descendants
        // matter. Parents come first in topological order, so one pass settles it.
        let mut relevant = unsatisfied.clone();
        for &v in self.dag.topological_order() {
            if !relevant[v as usize] {
                relevant[v as usize] = self.dag.parents_of(v).iter().any(|&p| relevant[p as usize]);
            }
        }
        let errors: Vec<u32> = (0..n as u32)
            .filter(|&i| self.facts[i as usize].state == State::Error)
            .collect();
        let mut slot = vec![NOT_LISTED; n];
        for (s, &e) in errors.iter().enumerate() {
            slot[e as usize] = s as u32;
        }

        let reach =
            reach::downstream_targets(self.dag, &unfinished, &relevant, &slot, errors.len());

        let chains = errors
            .iter()
            .zip(&reach.lists)
            .map(|(&e, blocked)| ErrorChain {
                step: e,
                name: self.dag.name_of(e).clone(),
                id: self.facts[e as usize].id,
                blocked_steps: self.names(blocked),
                blocked_count: blocked.len(),
                blocked_step_indices: blocked.clone(),
            })
            .collect();

        let mut ranked: Vec<(u32, u32)> = (0..n as u32)
            .filter(|&i| unsatisfied[i as usize] && reach.counts[i as usize] > 0)
            .map(|i| (reach.counts[i as usize], i))
            .collect();
        let order = |a: &(u32, u32), b: &(u32, u32)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
        if ranked.len() > BOTTLENECK_LIMIT {
            ranked.select_nth_unstable_by(BOTTLENECK_LIMIT, order);
            ranked.truncate(BOTTLENECK_LIMIT);
        }
        ranked.sort_unstable_by(order);
        let bottlenecks = ranked
            .into_iter()
            .map(|(count, i)| Bottleneck {
                step: i,
                name: self.dag.name_of(i).clone(),
                id: self.facts[i as usize].id,
                state: self.facts[i as usize].state,
                downstream_count: count as usize,
            })
            .collect();

        (
            ErrorChains {
                total_error_steps: errors.len(),
                chains,
            },
            bottlenecks,
        )
    }
}

/// [`RuntimeGraph::new`] then [`RuntimeGraph::analyze`].
pub fn analyze_runtime(dag: &Dag, facts: &[StepFacts]) -> Result<RuntimeAnalysis, GraphError> {
    RuntimeGraph::new(dag, facts)?.analyze()
}

/// Analyses many tasks in parallel on rayon's pool, one result per task in input order. Each
/// task succeeds or fails on its own, so one bad task does not cost the others their answer.
pub fn analyze_many(tasks: &[(&Dag, &[StepFacts])]) -> Vec<Result<RuntimeAnalysis, GraphError>> {
    tasks
        .par_iter()
        .map(|&(dag, facts)| analyze_runtime(dag, facts))
        .collect()
}
