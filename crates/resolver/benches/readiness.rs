//! Readiness benchmarks for issue 2 (run by `rake bench`; alone with
//! `cargo bench -p tasker-resolver --bench readiness`).
//!
//! - `readiness/full_evaluation`: [`readiness::evaluate_into`] over every step of a 1,000-step
//!   task caught mid-run, with a mix of states chosen so each rule takes both of its branches
//!   (target ≤ 20 µs per evaluation).
//! - `readiness/incremental_satisfy`: completing a whole 1,000-step task in topological
//!   order, one [`RuntimeDag::satisfy`] per step; one iteration is 1,000 calls, so the time per
//!   completion is the reported time / 1,000 (target ≤ 1 µs per completion).
//!
//! The DAG has the shape of `fixtures/generated_templates.rb`: layers of 50 steps, each step
//! depending on 1-3 steps of the layer before, from a fixed seed. Before measuring, the bench
//! prints one `readiness-bench:` line describing the snapshot, which `rake bench` copies into
//! docs/benchmarks.md next to the times criterion saves under `$CRITERION_HOME`.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::time::Duration;
use tasker_model::{State, TaskTemplate, Timestamp};
use tasker_resolver::readiness::{self, StepReadiness};
use tasker_resolver::{RuntimeDag, StepSnapshot, TemplateGraph};

#[path = "support/layered.rs"]
mod layered;
use layered::{layered_yaml, LAYER_WIDTH, MAX_PARENTS, SEED};

const STEPS: usize = 1_000;
const WARM_UP: Duration = Duration::from_secs(1);
const MEASUREMENT: Duration = Duration::from_secs(3);
const SAMPLES: usize = 100;

/// A layered template of `steps` steps as YAML, parsed and compiled the way the engine does.
fn layered_graph(steps: usize) -> TemplateGraph {
    let yaml = layered_yaml(
        &format!("name: generated_{steps}\nnamespace_name: generated\nstep_templates:\n"),
        steps,
        "",
    );
    let template =
        TaskTemplate::from_yaml(&yaml, "benches/readiness.rs").expect("generated template parses");
    TemplateGraph::compile(&template).expect("generated template compiles")
}

/// A task caught mid-run: levels 0-7 complete, levels 8-9 a mix of every case the rules
/// distinguish, the rest pending behind unfinished parents.
fn mid_run_snapshots(graph: &TemplateGraph, now: Timestamp) -> Vec<StepSnapshot> {
    let secs_ago = |s: i64| Some(Timestamp(now.0 - s * 1_000_000));
    let fresh = StepSnapshot::fresh(3, true);
    let complete = StepSnapshot {
        state: State::Complete,
        processed: true,
        attempts: Some(1),
        last_attempted_at: secs_ago(60),
        state_entered_at: secs_ago(60),
        ..fresh
    };
    let mut rng = fastrand::Rng::with_seed(SEED);
    (0..graph.len() as u32)
        .map(|i| match graph.level(i) {
            0..=7 => complete,
            8 | 9 => match rng.u32(0..10) {
                0..=2 => complete,
                3 => StepSnapshot {
                    state: State::InProgress,
                    in_process: true,
                    attempts: Some(1),
                    last_attempted_at: secs_ago(1),
                    state_entered_at: secs_ago(1),
                    ..fresh
                },
                // Error, rule 8's 2 s backoff elapsed: ready when its parents are done.
                4 => StepSnapshot {
                    state: State::Error,
                    attempts: Some(1),
                    last_attempted_at: secs_ago(10),
                    state_entered_at: secs_ago(10),
                    ..fresh
                },
                // Error, rule 8's 4 s backoff still running.
                5 => StepSnapshot {
                    state: State::Error,
                    attempts: Some(2),
                    last_attempted_at: secs_ago(1),
                    state_entered_at: secs_ago(1),
                    ..fresh
                },
                // Error with attempts at the retry limit: blocked for good.
                6 => StepSnapshot {
                    state: State::Error,
                    attempts: Some(3),
                    last_attempted_at: secs_ago(100),
                    state_entered_at: secs_ago(100),
                    ..fresh
                },
                // Pending with a handler-requested backoff (rule 7) still running.
                7 => StepSnapshot {
                    attempts: Some(1),
                    backoff_request_seconds: Some(5),
                    last_attempted_at: secs_ago(1),
                    state_entered_at: secs_ago(1),
                    ..fresh
                },
                _ => fresh,
            },
            _ => fresh,
        })
        .collect()
}

/// One line for the report: the bench's parameters, how many steps are in each state and
/// what the rules decided.
fn print_mix(steps: &[StepSnapshot], out: &[StepReadiness]) {
    let count = |state: State| steps.iter().filter(|s| s.state == state).count();
    let exhausted = steps
        .iter()
        .filter(|s| {
            s.state == State::Error
                && s.attempts.unwrap_or(0)
                    >= s.retry_limit.unwrap_or(readiness::DEFAULT_RETRY_LIMIT)
        })
        .count();
    let ready = out.iter().filter(|r| r.ready).count();
    let parents_done = out
        .iter()
        .zip(steps)
        .filter(|(r, s)| r.dependencies_satisfied && !s.state.satisfies_dependents())
        .count();
    let backing_off = out
        .iter()
        .zip(steps)
        .filter(|(r, s)| {
            !r.ready
                && r.retry_eligible
                && s.state != State::InProgress
                && r.next_retry_at.is_some()
        })
        .count();
    println!(
        "readiness-bench: layer_width={LAYER_WIDTH} max_parents={MAX_PARENTS} warm_up_ms={warm_up} \
         measurement_ms={measurement} samples={SAMPLES} steps={total} complete={complete} \
         in_progress={in_progress} error={error} exhausted={exhausted} pending={pending} \
         unfinished_with_parents_done={parents_done} ready={ready} backing_off={backing_off}",
        warm_up = WARM_UP.as_millis(),
        measurement = MEASUREMENT.as_millis(),
        total = steps.len(),
        complete = count(State::Complete),
        in_progress = count(State::InProgress),
        error = count(State::Error),
        pending = count(State::Pending),
    );
}

fn full_evaluation(c: &mut Criterion) {
    let graph = layered_graph(STEPS);
    let now = Timestamp::now();
    let steps = mid_run_snapshots(&graph, now);
    let mut out = Vec::with_capacity(STEPS);
    readiness::evaluate_into(&graph, &steps, now, &mut out);
    print_mix(&steps, &out);

    let mut group = c.benchmark_group("readiness");
    group.throughput(Throughput::Elements(STEPS as u64));
    group.bench_function("full_evaluation", |b| {
        b.iter(|| {
            readiness::evaluate_into(
                black_box(&graph),
                black_box(&steps),
                black_box(now),
                &mut out,
            );
            black_box(&out);
        })
    });
    group.finish();
}

fn incremental_satisfy(c: &mut Criterion) {
    let graph = layered_graph(STEPS);
    let order = graph.topological_order().to_vec();
    let mut ready: Vec<u32> = Vec::with_capacity(LAYER_WIDTH);

    let mut group = c.benchmark_group("readiness");
    // One iteration completes every step once: STEPS satisfy calls.
    group.throughput(Throughput::Elements(STEPS as u64));
    group.bench_function("incremental_satisfy", |b| {
        b.iter_batched(
            || RuntimeDag::new(&graph),
            |mut dag| {
                let mut readied = 0usize;
                for &step in &order {
                    dag.satisfy(&graph, black_box(step), &mut ready);
                    readied += ready.len();
                    ready.clear();
                }
                // The DAG is returned so its drop is not timed.
                (dag, black_box(readied))
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn config() -> Criterion {
    // Short runs: both benches finish in seconds and their spread is small.
    Criterion::default()
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT)
        .sample_size(SAMPLES)
}

criterion_group! {
    name = benches;
    config = config();
    targets = full_evaluation, incremental_satisfy
}
criterion_main!(benches);
