//! Generated graphs and task snapshots shared by the scale tests and the benchmarks
//! (`benches/analysis.rs` includes this file by path). Seeded, so every run sees the same
//! shapes. Also where the fixture templates are, and which ones there are.

#![allow(dead_code)] // each includer uses a different subset

use std::path::{Path, PathBuf};
use tasker_graph::{Dag, StepFacts};
use tasker_model::{State, TaskTemplate};

/// Every template under fixtures/templates, relative to it, in path order.
pub const FIXTURES: [&str; 7] = [
    "patterns/diamond.yaml",
    "patterns/diamond8.yaml",
    "patterns/linear.yaml",
    "patterns/mixed.yaml",
    "patterns/tree.yaml",
    "patterns/wide.yaml",
    "shop/fulfil_order.yaml",
];

/// The repository's fixtures/templates folder.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/templates")
}

/// One fixture template (a path relative to [`fixtures_dir`]) as a Dag.
pub fn fixture(relative: &str) -> Dag {
    Dag::from_template(&TaskTemplate::from_file(&fixtures_dir().join(relative)).unwrap()).unwrap()
}

/// A long chain with short skips: step `i` depends on `i - 1`, and every tenth step also on
/// `i - 7`, so the graph is chain-shaped but not a bare list.
pub fn chainish(n: usize) -> Dag {
    let parents = (0..n)
        .map(|i| {
            let mut ps = Vec::new();
            if i > 0 {
                ps.push(i as u32 - 1);
            }
            if i % 10 == 0 && i >= 7 {
                ps.push(i as u32 - 7);
            }
            ps
        })
        .collect();
    named(parents)
}

/// One root fanning out to `n - 2` steps that all join into one last step.
pub fn wide(n: usize) -> Dag {
    assert!(n >= 3);
    let mut parents = vec![Vec::new()];
    parents.extend((1..n - 1).map(|_| vec![0]));
    parents.push((1..n as u32 - 1).collect());
    named(parents)
}

/// Layers of `width` steps; each step past the first layer depends on up to `max_parents`
/// distinct random steps of the two layers before it.
pub fn random_layered(n: usize, width: usize, max_parents: usize, seed: u64) -> Dag {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut parents = Vec::with_capacity(n);
    for i in 0..n {
        let layer = i / width;
        if layer == 0 {
            parents.push(Vec::new());
            continue;
        }
        let lo = layer.saturating_sub(2) * width;
        let hi = layer * width;
        let mut pool: Vec<u32> = (lo as u32..hi as u32).collect();
        rng.shuffle(&mut pool);
        let k = rng.usize(1..=max_parents.min(pool.len()));
        parents.push(pool[..k].to_vec());
    }
    named(parents)
}

/// Steps named `step_<i>`.
pub fn named(parents: Vec<Vec<u32>>) -> Dag {
    let names: Vec<String> = (0..parents.len()).map(|i| format!("step_{i}")).collect();
    Dag::new(names, parents).expect("generated graph is valid")
}

/// A task partway through: the first `done_fraction` of levels complete (with durations),
/// about one step in `error_every` of the rest in error, the remainder pending; pending
/// steps whose parents are all satisfied are ready, and every other one of those is in
/// progress instead.
pub fn partway(dag: &Dag, done_fraction: f64, error_every: u32, seed: u64) -> Vec<StepFacts> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let depth = dag.levels().len();
    let done_levels = (depth as f64 * done_fraction) as u32;
    let mut facts: Vec<StepFacts> = (0..dag.len() as u32)
        .map(|i| {
            let level = dag.level(i).unwrap_or(u32::MAX);
            let (state, duration_ms) = if level < done_levels {
                (State::Complete, Some(rng.f64() * 100.0))
            } else if rng.u32(0..error_every) == 0 {
                (State::Error, Some(rng.f64() * 100.0))
            } else {
                (State::Pending, None)
            };
            StepFacts {
                id: 1_000 + i64::from(i),
                state,
                ready: false,
                duration_ms,
            }
        })
        .collect();
    let mut alternate = false;
    for i in 0..dag.len() as u32 {
        let f = facts[i as usize];
        let parents_done = dag
            .parents(i)
            .unwrap_or(&[])
            .iter()
            .all(|&p| facts[p as usize].state.satisfies_dependents());
        if f.state == State::Pending && parents_done {
            alternate = !alternate;
            if alternate {
                facts[i as usize].ready = true;
            } else {
                facts[i as usize].state = State::InProgress;
            }
        }
    }
    facts
}

/// Every step pending, the roots ready.
pub fn fresh(dag: &Dag) -> Vec<StepFacts> {
    (0..dag.len() as u32)
        .map(|i| StepFacts {
            id: i64::from(i) + 1,
            state: State::Pending,
            ready: dag.parents(i).is_some_and(|p| p.is_empty()),
            duration_ms: None,
        })
        .collect()
}

/// `count` random layered tasks (seeds `0..count`, `max_parents` 3, 30% of levels done)
/// with their facts: the batch `analyze_many` is tested and measured on.
pub fn random_tasks_partway(
    count: u64,
    n: usize,
    width: usize,
    error_every: u32,
) -> (Vec<Dag>, Vec<Vec<StepFacts>>) {
    let dags: Vec<Dag> = (0..count).map(|s| random_layered(n, width, 3, s)).collect();
    let facts = dags
        .iter()
        .enumerate()
        .map(|(s, d)| partway(d, 0.3, error_every, s as u64))
        .collect();
    (dags, facts)
}
