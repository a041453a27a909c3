//! Runtime analysis of tasks caught partway, with states and durations chosen by hand.

use std::sync::Arc;
use tasker_graph::{
    analyze_many, analyze_runtime, Dag, GraphError, RuntimeGraph, StepFacts, BOTTLENECK_LIMIT,
};
use tasker_model::State::{self, *};

mod common;

use common::fixture;

fn strs(names: &[Arc<str>]) -> Vec<&str> {
    names.iter().map(|n| &**n).collect()
}

fn rows(rows: &[(State, bool, Option<f64>)]) -> Vec<StepFacts> {
    rows.iter()
        .enumerate()
        .map(|(i, &(state, ready, duration_ms))| StepFacts {
            id: 101 + i as i64,
            state,
            ready,
            duration_ms,
        })
        .collect()
}

/// mixed.yaml partway: both fetches, validate_a and enrich done; transform_a running;
/// transform_b failed after 500 ms; audit ready; merge and publish waiting.
fn mixed_partway() -> (Dag, Vec<StepFacts>) {
    let dag = fixture("patterns/mixed.yaml");
    let facts = rows(&[
        (Complete, false, Some(100.0)), // 101 fetch_a
        (Complete, false, Some(50.0)),  // 102 fetch_b
        (Complete, false, Some(30.0)),  // 103 validate_a      <- fetch_a
        (InProgress, false, None),      // 104 transform_a     <- validate_a
        (Error, false, Some(500.0)),    // 105 transform_b     <- fetch_b
        (Complete, false, Some(20.0)),  // 106 enrich          <- fetch_a, fetch_b
        (Pending, false, None),         // 107 merge           <- transform_a, transform_b, enrich
        (Pending, false, None),         // 108 publish         <- merge
        (Pending, true, None),          // 109 audit           <- fetch_a, fetch_b
    ]);
    (dag, facts)
}

#[test]
fn a_task_partway_with_one_step_in_error() {
    let (dag, facts) = mixed_partway();
    let a = analyze_runtime(&dag, &facts).unwrap();

    let e = &a.error_chains;
    assert_eq!(e.total_error_steps, 1);
    assert_eq!(&*e.chains[0].name, "transform_b");
    assert_eq!(e.chains[0].id, 105);
    assert_eq!(strs(&e.chains[0].blocked_steps), ["merge", "publish"]);
    assert_eq!(e.chains[0].blocked_count, 2);

    // transform_a and transform_b both hold back merge and publish (a tie, broken by
    // template order); merge holds back publish; publish and audit hold back nothing.
    let b: Vec<(&str, i64, State, usize)> = a
        .bottlenecks
        .iter()
        .map(|b| (&*b.name, b.id, b.state, b.downstream_count))
        .collect();
    assert_eq!(
        b,
        [
            ("transform_a", 104, InProgress, 2),
            ("transform_b", 105, Error, 2),
            ("merge", 107, Pending, 1),
        ]
    );

    let p = &a.parallelism_opportunities;
    assert_eq!(p.current_parallel_opportunities, 1);
    assert_eq!(strs(&p.ready_steps), ["audit"]);
    assert_eq!(p.width_per_level, [2, 4, 1, 1, 1]);
    assert_eq!(p.max_parallelism, 4);

    let c = &a.critical_paths;
    assert_eq!(c.longest_path_length, 5);
    assert_eq!(
        strs(&c.longest_path),
        ["fetch_a", "validate_a", "transform_a", "merge", "publish"]
    );
    // fetch_b 50 + transform_b 500 beats fetch_a 100 + validate_a 30 + transform_a (none).
    assert_eq!(
        strs(&c.longest_duration_path),
        ["fetch_b", "transform_b", "merge", "publish"]
    );
    assert_eq!(c.total_duration_ms, 550.0);
    assert_eq!(c.longest_duration_path_steps, [1, 4, 6, 7]);

    let g = RuntimeGraph::new(&dag, &facts).unwrap();
    let merge = dag.index_of("merge").unwrap();
    let audit = dag.index_of("audit").unwrap();
    assert_eq!(
        strs(&g.blocking_dependencies(merge).unwrap()),
        ["transform_a", "transform_b"]
    );
    assert_eq!(g.blocking_dependencies(audit).unwrap().len(), 0);
    assert_eq!(g.dependencies_satisfied(merge), Some(false));
    assert_eq!(g.dependencies_satisfied(audit), Some(true));
    assert_eq!(g.dependencies_satisfied(99), None);
    assert_eq!(g.blocking_dependencies(99), None);
    let impact = g.downstream_impact(4).unwrap();
    assert_eq!(
        (strs(&impact.steps), impact.count),
        (vec!["merge", "publish"], 2)
    );
    assert_eq!(g.step_with_id(107), Some(merge));

    let deps = g.runtime_dependency_graph();
    assert_eq!(deps.get(&101), Some(&vec![]));
    assert_eq!(deps.get(&107), Some(&vec![104, 105, 106]));
    assert_eq!(deps.get(&109), Some(&vec![101, 102]));
    assert_eq!(deps.len(), 9);
}

#[test]
fn results_serialise_with_names_and_ids_but_not_indices() {
    let (dag, facts) = mixed_partway();
    let a = analyze_runtime(&dag, &facts).unwrap();
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(json["critical_paths"]["longest_path_length"], 5);
    assert!(json["critical_paths"].get("longest_path_steps").is_none());
    assert_eq!(
        json["error_chains"]["chains"][0]["blocked_steps"],
        serde_json::json!(["merge", "publish"])
    );
    assert_eq!(json["bottlenecks"][0]["state"], "in_progress");
    assert!(json["bottlenecks"][0].get("step").is_none());
    let deps = serde_json::to_string(
        &RuntimeGraph::new(&dag, &facts)
            .unwrap()
            .runtime_dependency_graph(),
    )
    .unwrap();
    assert!(
        deps.starts_with(r#"{"101":[],"102":[],"103":[101]"#),
        "{deps}"
    );
}

#[test]
fn cancelled_and_satisfied_steps_are_not_counted_as_blocked() {
    // linear: 1 done, 2 failed, 3 cancelled by hand, 4 still pending.
    let dag = fixture("patterns/linear.yaml");
    let facts = rows(&[
        (Complete, false, Some(10.0)),
        (Error, false, Some(5.0)),
        (Cancelled, false, None),
        (Pending, false, None),
    ]);
    let a = analyze_runtime(&dag, &facts).unwrap();
    assert_eq!(strs(&a.error_chains.chains[0].blocked_steps), ["step_4"]);
    // The cancelled step is unsatisfied, so it still holds step_4 back.
    let b: Vec<(&str, usize)> = a
        .bottlenecks
        .iter()
        .map(|b| (&*b.name, b.downstream_count))
        .collect();
    assert_eq!(b, [("step_2", 1), ("step_3", 1)]);
    assert_eq!(a.critical_paths.total_duration_ms, 15.0);

    // A resolved error no longer blocks, and errors downstream of errors are chained too.
    let dag = fixture("patterns/diamond.yaml");
    let facts = rows(&[
        (ResolvedManually, false, None),
        (Error, false, None),
        (Complete, false, None),
        (Error, false, None),
    ]);
    let a = analyze_runtime(&dag, &facts).unwrap();
    let chains: Vec<(&str, Vec<&str>)> = a
        .error_chains
        .chains
        .iter()
        .map(|c| (&*c.name, strs(&c.blocked_steps)))
        .collect();
    assert_eq!(chains, [("left", vec!["join"]), ("join", vec![])]);
    assert_eq!(a.bottlenecks.len(), 1);
}

#[test]
fn bad_durations_count_as_zero() {
    let dag = fixture("patterns/diamond.yaml");
    let facts = rows(&[
        (Complete, false, Some(f64::NAN)),
        (Complete, false, Some(-5.0)),
        (Complete, false, Some(f64::INFINITY)),
        (Complete, false, Some(1.0)),
    ]);
    let c = analyze_runtime(&dag, &facts).unwrap().critical_paths;
    assert_eq!(c.total_duration_ms, 1.0);
    assert_eq!(strs(&c.longest_duration_path), ["start", "left", "join"]);
}

#[test]
fn facts_must_match_the_graph() {
    let dag = fixture("patterns/diamond.yaml");
    let e = analyze_runtime(&dag, &[]).unwrap_err();
    assert_eq!(e, GraphError::FactsMismatch { steps: 4, facts: 0 });
    assert_eq!(
        e.to_string(),
        "runtime analysis needs one StepFacts per step: the graph has 4 steps, got 0"
    );
}

#[test]
fn bottlenecks_are_capped_and_ordered() {
    // A root over 30 chains of different lengths: the root blocks everything, then the
    // longest chains' heads.
    let mut parents = vec![vec![]];
    for chain in 0..30u32 {
        let mut prev = 0u32;
        for _ in 0..=chain % 7 {
            parents.push(vec![prev]);
            prev = parents.len() as u32 - 1;
        }
    }
    let dag = common::named(parents);
    let facts = common::fresh(&dag);
    let a = analyze_runtime(&dag, &facts).unwrap();
    assert_eq!(a.bottlenecks.len(), BOTTLENECK_LIMIT);
    assert_eq!(a.bottlenecks[0].downstream_count, dag.len() - 1);
    let counts: Vec<usize> = a.bottlenecks.iter().map(|b| b.downstream_count).collect();
    let mut sorted = counts.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(counts, sorted);
    // Chains 6, 13, 20, 27 have 7 steps, so their heads block 6 each, in template order.
    assert_eq!(&counts[1..5], &[6, 6, 6, 6]);
    let heads: Vec<u32> = a.bottlenecks[1..5].iter().map(|b| b.step).collect();
    assert!(heads.windows(2).all(|w| w[0] < w[1]), "{heads:?}");
}

#[test]
fn many_tasks_at_once_match_one_at_a_time() {
    let (dags, facts) = common::random_tasks_partway(12, 400, 20, 40);
    let mut tasks: Vec<(&Dag, &[StepFacts])> = dags
        .iter()
        .zip(&facts)
        .map(|(d, f)| (d, f.as_slice()))
        .collect();
    tasks.push((&dags[0], &facts[1][..3]));
    let many = analyze_many(&tasks);
    assert_eq!(many.len(), 13);
    for (i, (dag, f)) in tasks.iter().enumerate().take(12) {
        assert_eq!(many[i], analyze_runtime(dag, f), "task {i}");
    }
    assert!(matches!(many[12], Err(GraphError::FactsMismatch { .. })));
}
