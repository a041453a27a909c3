//! Graph analysis and rendering at 10,000 steps (run alone with
//! `cargo bench -p tasker-graph --bench analysis`). Target: a full runtime analysis well
//! under 5 ms.
//!
//! Shapes (from `tests/common`, seeded): `chainish` (a chain with a skip edge every tenth
//! step), `wide` (one root, 9,998 parallel steps, one join), `random_layered` (layers of 50,
//! each step 1-3 random parents from the two layers before). Runtime benches use a task
//! partway: the first 30% of levels complete, about one step in 500 of the rest in error,
//! ready and in-progress steps at the frontier; `random_layered_fresh` has every step
//! pending, the worst case for the descendant counts. Before measuring, one `graph-bench:`
//! line per shape describes it.

use criterion::measurement::WallTime;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkGroup, Criterion};
use std::time::Duration;
use tasker_graph::{
    analyze_many, analyze_runtime, analyze_template, to_dot, to_mermaid, to_svg, Dag, StepFacts,
};
use tasker_model::State;

#[path = "../tests/common/mod.rs"]
mod common;

const STEPS: usize = 10_000;

fn quick<'c>(c: &'c mut Criterion, name: &str) -> BenchmarkGroup<'c, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g
}

fn describe(name: &str, dag: &Dag, facts: &[StepFacts]) {
    let count = |s: State| facts.iter().filter(|f| f.state == s).count();
    println!(
        "graph-bench: {name} steps={} edges={} levels={} complete={} in_progress={} error={} pending={} ready={}",
        dag.len(),
        dag.edge_count(),
        dag.levels().len(),
        count(State::Complete),
        count(State::InProgress),
        count(State::Error),
        count(State::Pending),
        facts.iter().filter(|f| f.ready).count(),
    );
}

fn shapes() -> Vec<(&'static str, Dag)> {
    vec![
        ("chainish", common::chainish(STEPS)),
        ("wide", common::wide(STEPS)),
        ("random_layered", common::random_layered(STEPS, 50, 3, 42)),
    ]
}

fn runtime(c: &mut Criterion) {
    let mut cases = Vec::new();
    for (name, dag) in shapes() {
        let facts = common::partway(&dag, 0.3, 500, 9);
        describe(name, &dag, &facts);
        cases.push((name.to_string(), dag, facts));
    }
    let dag = common::random_layered(STEPS, 50, 3, 42);
    let facts = common::fresh(&dag);
    describe("random_layered_fresh", &dag, &facts);
    cases.push(("random_layered_fresh".to_string(), dag, facts));

    let mut g = quick(c, "runtime_10k");
    for (name, dag, facts) in &cases {
        g.bench_function(name.as_str(), |b| {
            b.iter(|| analyze_runtime(black_box(dag), black_box(facts)).expect("acyclic"))
        });
    }
    g.finish();
}

fn template(c: &mut Criterion) {
    let mut g = quick(c, "template_10k");
    for (name, dag) in shapes() {
        g.bench_function(name, |b| b.iter(|| analyze_template(black_box(&dag))));
    }
    // Building the graph itself (what a caller pays per stored task before analysing).
    let dag = common::random_layered(STEPS, 50, 3, 42);
    let names: Vec<String> = dag.names().iter().map(|n| n.to_string()).collect();
    let parents: Vec<Vec<u32>> = (0..STEPS as u32)
        .map(|i| dag.parents(i).unwrap_or(&[]).to_vec())
        .collect();
    g.bench_function("dag_new_random_layered", |b| {
        b.iter(|| Dag::new(names.iter().map(String::as_str), parents.clone()).expect("valid"))
    });
    g.finish();
}

fn render(c: &mut Criterion) {
    let dag = common::random_layered(STEPS, 50, 3, 42);
    let facts = common::partway(&dag, 0.3, 500, 9);
    let path = dag.longest_path();
    let mut g = quick(c, "render_10k");
    g.bench_function("mermaid", |b| {
        b.iter(|| to_mermaid(black_box(&dag), Some(&facts), &path))
    });
    g.bench_function("dot", |b| {
        b.iter(|| to_dot(black_box(&dag), Some(&facts), &path))
    });
    // Layout included: layers, dummy points, ordering sweeps, placement.
    g.bench_function("svg", |b| {
        b.iter(|| to_svg(black_box(&dag), Some(&facts), &path))
    });
    let wide = common::wide(STEPS);
    let wide_path = wide.longest_path();
    g.bench_function("svg_wide", |b| {
        b.iter(|| to_svg(black_box(&wide), None, &wide_path))
    });
    g.finish();
}

fn many(c: &mut Criterion) {
    // 100 tasks of 1,000 steps each, spread over rayon's pool.
    let (dags, facts) = common::random_tasks_partway(100, 1_000, 50, 100);
    let tasks: Vec<(&Dag, &[StepFacts])> = dags
        .iter()
        .zip(&facts)
        .map(|(d, f)| (d, f.as_slice()))
        .collect();
    let mut g = quick(c, "many");
    g.bench_function("analyze_many_100x1k", |b| {
        b.iter(|| analyze_many(black_box(&tasks)))
    });
    g.finish();
}

criterion_group!(benches, runtime, template, render, many);
criterion_main!(benches);
