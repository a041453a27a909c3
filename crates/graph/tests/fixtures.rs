//! Every template under fixtures/templates, analysed, against values worked out by hand
//! from the YAML. A new fixture fails `every_fixture_has_expectations_here` until it gets
//! its own test below.

use std::path::Path;
use std::sync::Arc;
use tasker_graph::{analyze_runtime, analyze_template, Dag, StepFacts, Topology};
use tasker_model::{State, TaskTemplate};
use tasker_resolver::TemplateGraph;

mod common;

use common::fixtures_dir;

/// The fixture as a Dag, checked to be the same graph whichever constructor builds it.
fn load(relative: &str) -> Dag {
    let template = TaskTemplate::from_file(&fixtures_dir().join(relative)).unwrap();
    let dag = Dag::from_template(&template).unwrap();
    let compiled = Dag::from_template_graph(&TemplateGraph::compile(&template).unwrap());
    assert_eq!(
        analyze_template(&dag),
        analyze_template(&compiled),
        "{relative}"
    );
    assert_eq!(
        dag.dependency_map(),
        compiled.dependency_map(),
        "{relative}"
    );
    dag
}

fn strs(names: &[Arc<str>]) -> Vec<&str> {
    names.iter().map(|n| &**n).collect()
}

fn levels(dag: &Dag) -> Vec<Vec<String>> {
    analyze_template(dag)
        .levels
        .iter()
        .map(|l| l.iter().map(|n| n.to_string()).collect())
        .collect()
}

fn step(dag: &Dag, name: &str) -> u32 {
    dag.index_of(name)
        .unwrap_or_else(|| panic!("no step {name}"))
}

fn downstream(dag: &Dag, name: &str) -> (Vec<String>, usize) {
    let d = dag.downstream_impact(step(dag, name)).unwrap();
    (d.steps.iter().map(|s| s.to_string()).collect(), d.count)
}

fn owned(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The runtime critical path of a fresh task (nothing ran, so no durations).
fn fresh_critical(dag: &Dag) -> (usize, Vec<String>, Vec<String>, f64) {
    let facts: Vec<StepFacts> = (0..dag.len() as i64)
        .map(|i| StepFacts {
            id: i,
            state: State::Pending,
            ready: false,
            duration_ms: None,
        })
        .collect();
    let c = analyze_runtime(dag, &facts).unwrap().critical_paths;
    (
        c.longest_path_length,
        c.longest_path.iter().map(|s| s.to_string()).collect(),
        c.longest_duration_path
            .iter()
            .map(|s| s.to_string())
            .collect(),
        c.total_duration_ms,
    )
}

/// What every fixture is checked for: no cycle, its topology, roots, leaves and levels, and
/// its longest path, which a fresh task's critical paths (nothing ran, so no durations)
/// must both follow as well.
fn assert_shape(
    dag: &Dag,
    topology: Topology,
    roots: &[&str],
    leaves: &[&str],
    expected_levels: Vec<Vec<String>>,
    longest: &[&str],
) {
    let a = analyze_template(dag);
    assert!(a.cycles.is_empty());
    assert_eq!(a.topology, topology);
    assert_eq!(strs(&a.roots), roots);
    assert_eq!(strs(&a.leaves), leaves);
    assert_eq!(levels(dag), expected_levels);
    assert_eq!(strs(&a.longest_path), longest);
    let path = owned(longest);
    assert_eq!(fresh_critical(dag), (path.len(), path.clone(), path, 0.0));
}

/// A diamond: `start` fans out to `branches`, which all feed `join`. Checks its shape (the
/// branches tie for the longest path, and the first in the template is taken), that all of
/// it lies below `start` and only `join` below each branch, and that `join` waits on every
/// branch, in template order.
fn assert_diamond(dag: &Dag, start: &str, branches: &[&str], join: &str) {
    let levels = vec![owned(&[start]), owned(branches), owned(&[join])];
    let longest = [start, branches[0], join];
    assert_shape(dag, Topology::Diamond, &[start], &[join], levels, &longest);
    let mut below_start = owned(branches);
    below_start.push(join.into());
    assert_eq!(downstream(dag, start), (below_start, branches.len() + 1));
    for branch in branches {
        assert_eq!(downstream(dag, branch), (owned(&[join]), 1), "{branch}");
    }
    assert_eq!(strs(dag.dependency_map().get(join).unwrap()), branches);
}

#[test]
fn every_fixture_has_expectations_here() {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, base, out);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) {
                out.push(path.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut found = Vec::new();
    walk(&fixtures_dir(), &fixtures_dir(), &mut found);
    found.sort();
    assert_eq!(found, common::FIXTURES);
}

#[test]
fn linear() {
    let dag = load("patterns/linear.yaml");
    let steps = ["step_1", "step_2", "step_3", "step_4"];
    let one_per_level = steps.map(|s| vec![s.to_string()]).to_vec();
    assert_shape(
        &dag,
        Topology::Linear,
        &["step_1"],
        &["step_4"],
        one_per_level,
        &steps,
    );
    assert_eq!(
        downstream(&dag, "step_1"),
        (owned(&["step_2", "step_3", "step_4"]), 3)
    );
    assert_eq!(downstream(&dag, "step_4"), (vec![], 0));
    let deps = dag.dependency_map();
    assert_eq!(strs(deps.get("step_1").unwrap()), Vec::<&str>::new());
    assert_eq!(strs(deps.get("step_3").unwrap()), ["step_2"]);
}

#[test]
fn diamond() {
    let dag = load("patterns/diamond.yaml");
    assert_diamond(&dag, "start", &["left", "right"], "join");
}

#[test]
fn diamond8() {
    let dag = load("patterns/diamond8.yaml");
    let branches = [
        "branch_1", "branch_2", "branch_3", "branch_4", "branch_5", "branch_6",
    ];
    assert_diamond(&dag, "start", &branches, "join");
}

#[test]
fn tree() {
    let dag = load("patterns/tree.yaml");
    let leaves = ["leaf_a1", "leaf_a2", "leaf_b1", "leaf_b2"];
    let levels = vec![
        owned(&["root"]),
        owned(&["branch_a", "branch_b"]),
        owned(&leaves),
    ];
    let longest = ["root", "branch_a", "leaf_a1"];
    assert_shape(&dag, Topology::FanOut, &["root"], &leaves, levels, &longest);
    assert_eq!(
        downstream(&dag, "root"),
        (
            owned(&["branch_a", "branch_b", "leaf_a1", "leaf_a2", "leaf_b1", "leaf_b2"]),
            6
        )
    );
    assert_eq!(
        downstream(&dag, "branch_b"),
        (owned(&["leaf_b1", "leaf_b2"]), 2)
    );
}

#[test]
fn wide() {
    let dag = load("patterns/wide.yaml");
    let works: Vec<String> = (1..=20).map(|i| format!("work_{i:02}")).collect();
    let works: Vec<&str> = works.iter().map(String::as_str).collect();
    assert_diamond(&dag, "split", &works, "gather");
    assert_eq!(dag.width_per_level(), [1, 20, 1]);
    assert_eq!(dag.dependency_map().get("gather").unwrap().len(), 20);
}

#[test]
fn mixed() {
    let dag = load("patterns/mixed.yaml");
    let levels = vec![
        owned(&["fetch_a", "fetch_b"]),
        owned(&["validate_a", "transform_b", "enrich", "audit"]),
        owned(&["transform_a"]),
        owned(&["merge"]),
        owned(&["publish"]),
    ];
    let roots = ["fetch_a", "fetch_b"];
    let longest = ["fetch_a", "validate_a", "transform_a", "merge", "publish"];
    assert_shape(
        &dag,
        Topology::Dag,
        &roots,
        &["publish", "audit"],
        levels,
        &longest,
    );
    assert_eq!(
        downstream(&dag, "fetch_a"),
        (
            owned(&[
                "validate_a",
                "transform_a",
                "enrich",
                "merge",
                "publish",
                "audit"
            ]),
            6
        )
    );
    assert_eq!(
        downstream(&dag, "fetch_b"),
        (
            owned(&["transform_b", "enrich", "merge", "publish", "audit"]),
            5
        )
    );
    assert_eq!(
        downstream(&dag, "enrich"),
        (owned(&["merge", "publish"]), 2)
    );
    let deps = dag.dependency_map();
    // depends_on_step comes before depends_on_steps.
    assert_eq!(strs(deps.get("enrich").unwrap()), ["fetch_a", "fetch_b"]);
    assert_eq!(
        strs(deps.get("merge").unwrap()),
        ["transform_a", "transform_b", "enrich"]
    );
    assert_eq!(
        deps.keys().map(|k| &**k).collect::<Vec<_>>(),
        [
            "fetch_a",
            "fetch_b",
            "validate_a",
            "transform_a",
            "transform_b",
            "enrich",
            "merge",
            "publish",
            "audit"
        ]
    );
}

#[test]
fn fulfil_order() {
    let dag = load("shop/fulfil_order.yaml");
    let roots = ["reserve_stock", "charge_card"];
    let levels = vec![owned(&roots), owned(&["ship"]), owned(&["notify"])];
    let longest = ["reserve_stock", "ship", "notify"];
    assert_shape(&dag, Topology::FanIn, &roots, &["notify"], levels, &longest);
    assert_eq!(
        downstream(&dag, "charge_card"),
        (owned(&["ship", "notify"]), 2)
    );
    assert_eq!(
        strs(dag.dependency_map().get("ship").unwrap()),
        ["reserve_stock", "charge_card"]
    );
}
