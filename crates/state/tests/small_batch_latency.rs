//! An ignored measurement: the latency of the small batches a lightly loaded engine commits,
//! one at a time, for a 4-step linear task (create + start, then each step completing and
//! the next starting, then the task completing).
//!
//! `cargo test -p tasker-state --release --test small_batch_latency -- --ignored --nocapture`

mod conformance;

use conformance::bench::{four_step_template, serial_batches};
use conformance::*;
use std::time::Instant;
use tasker_model::Timestamp;
use tasker_state::{open_store, MemoryStore, Store};

const TASKS: usize = 300;

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn measure(label: &str, store: &dyn Store) {
    let template = four_step_template("linear", true);
    store.register_template(&template).unwrap();
    let mut batches: Vec<f64> = Vec::new();
    let mut tasks: Vec<f64> = Vec::new();
    for _ in 0..TASKS {
        let now = Timestamp::now();
        let plan = serial_batches(new_task(store, &template, now), now);
        let task_started = Instant::now();
        for batch in plan {
            let started = Instant::now();
            apply(store, batch).unwrap();
            batches.push(started.elapsed().as_secs_f64() * 1e6);
        }
        tasks.push(task_started.elapsed().as_secs_f64() * 1e6);
    }
    println!(
        "{label:>9}: small batch p50 {:>6.0} µs p90 {:>6.0} µs; 4-step task (5 batches) p50 {:>6.0} µs",
        percentile(&mut batches, 0.5),
        percentile(&mut batches, 0.9),
        percentile(&mut tasks, 0.5),
    );
}

#[test]
#[ignore = "a measurement: run with --ignored --nocapture, preferably --release"]
fn latency_of_small_batches() {
    measure("memory", &MemoryStore::new());
    let file = SqliteFile::new("latency");
    measure("sqlite", open_store(&file.url()).unwrap().as_ref());
    if let Some(schema) = PgSchema::new("latency") {
        measure("postgres", open_store(&schema.url()).unwrap().as_ref());
    }
}
