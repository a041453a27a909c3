//! The fast paths checked against obvious ones on generated graphs big enough to need many
//! reachability blocks (256 targets each), and a 10,000-step smoke run of every shape.

use std::collections::BTreeSet;
use tasker_graph::{analyze_runtime, analyze_template, Dag, StepFacts, BOTTLENECK_LIMIT};
use tasker_model::State;

mod common;

fn unfinished(f: &StepFacts) -> bool {
    !f.state.satisfies_dependents() && f.state != State::Cancelled
}

/// Unfinished strict descendants of `step`, by a plain search.
fn naive_blocked(dag: &Dag, facts: &[StepFacts], step: u32) -> Vec<u32> {
    dag.downstream(step)
        .unwrap()
        .into_iter()
        .filter(|&d| unfinished(&facts[d as usize]))
        .collect()
}

/// The analysis's error chains and bottlenecks, recomputed one search per step.
fn check_against_naive(dag: &Dag, facts: &[StepFacts]) {
    let a = analyze_runtime(dag, facts).unwrap();
    let errors: Vec<u32> = (0..dag.len() as u32)
        .filter(|&i| facts[i as usize].state == State::Error)
        .collect();
    assert_eq!(a.error_chains.total_error_steps, errors.len());
    for (chain, &e) in a.error_chains.chains.iter().zip(&errors) {
        assert_eq!(chain.step, e);
        let expected: Vec<&str> = naive_blocked(dag, facts, e)
            .iter()
            .map(|&d| &**dag.name(d).unwrap())
            .collect();
        let got: Vec<&str> = chain.blocked_steps.iter().map(|s| &**s).collect();
        assert_eq!(got, expected, "error step {e}");
    }
    let mut ranked: Vec<(usize, u32)> = (0..dag.len() as u32)
        .filter(|&i| !facts[i as usize].state.satisfies_dependents())
        .map(|i| (naive_blocked(dag, facts, i).len(), i))
        .filter(|&(c, _)| c > 0)
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked.truncate(BOTTLENECK_LIMIT);
    let got: Vec<(usize, u32)> = a
        .bottlenecks
        .iter()
        .map(|b| (b.downstream_count, b.step))
        .collect();
    assert_eq!(got, ranked);
}

#[test]
fn reachability_counts_match_plain_search() {
    for seed in 0..6 {
        let dag = common::random_layered(900, 30, 3, seed);
        check_against_naive(&dag, &common::partway(&dag, 0.2, 15, seed));
        check_against_naive(&dag, &common::fresh(&dag));
    }
    let dag = common::chainish(700);
    check_against_naive(&dag, &common::partway(&dag, 0.5, 50, 1));
    let dag = common::wide(700);
    check_against_naive(&dag, &common::partway(&dag, 0.34, 20, 2));
}

#[test]
fn random_states_match_plain_search() {
    // States with no regard to the rules (a complete step under a pending one, say): the
    // counts must still be exact.
    let mut rng = fastrand::Rng::with_seed(7);
    for seed in 0..4 {
        let dag = common::random_layered(600, 25, 4, seed);
        let facts: Vec<StepFacts> = (0..dag.len())
            .map(|i| StepFacts {
                id: i as i64,
                state: State::ALL[rng.usize(0..State::ALL.len())],
                ready: rng.bool(),
                duration_ms: Some(rng.f64()),
            })
            .collect();
        check_against_naive(&dag, &facts);
    }
}

#[test]
fn longest_paths_match_depth() {
    for seed in 0..4 {
        let dag = common::random_layered(2_000, 40, 3, seed);
        let a = analyze_template(&dag);
        assert_eq!(a.longest_path.len(), a.levels.len());
        // Each step of the path is a child of the one before.
        let steps: Vec<u32> = a
            .longest_path
            .iter()
            .map(|n| dag.index_of(n).unwrap())
            .collect();
        for w in steps.windows(2) {
            assert!(dag.children(w[0]).unwrap().contains(&w[1]));
        }
    }
}

#[test]
fn longest_path_from_levels_matches_the_path_search() {
    // Dag::longest_path reads the levels; the duration path with nothing recorded runs the
    // full search with the same tie-breaks. They must agree.
    for seed in 0..8 {
        let dag = common::random_layered(1_500, 12, 4, seed);
        let c = analyze_runtime(&dag, &common::fresh(&dag))
            .unwrap()
            .critical_paths;
        assert_eq!(
            c.longest_path_steps, c.longest_duration_path_steps,
            "seed {seed}"
        );
        assert_eq!(c.total_duration_ms, 0.0);
    }
}

#[test]
fn ten_thousand_steps_of_every_shape() {
    for dag in [
        common::chainish(10_000),
        common::wide(10_000),
        common::random_layered(10_000, 50, 3, 42),
    ] {
        let facts = common::partway(&dag, 0.3, 500, 9);
        let a = analyze_runtime(&dag, &facts).unwrap();
        assert_eq!(a.critical_paths.longest_path_length, dag.levels().len());
        let errors: BTreeSet<u32> = a.error_chains.chains.iter().map(|c| c.step).collect();
        assert_eq!(errors.len(), a.error_chains.total_error_steps);
        assert!(!a.bottlenecks.is_empty());
    }
}
