//! Parsing a large task template (issue 15 item 6): `TaskTemplate::from_yaml` on the YAML of a
//! 10,000-step layered template, the shape `Fixtures::GeneratedTemplates.layered(steps: 10_000)`
//! makes for `benches/register_template.rb` (about 0.9 MB). Alone with
//! `cargo bench -p tasker-model --bench from_yaml`.
//!
//! Owns only the measurement; it must not hold a copy of anything the parser does. Under
//! callgrind, `FROM_YAML_ONCE=1` parses once and exits, so the counts are of one parse.

use criterion::{black_box, criterion_group, Criterion, Throughput};
use std::time::Duration;
use tasker_model::TaskTemplate;

#[path = "../../resolver/benches/support/layered.rs"]
#[allow(dead_code)]
mod layered;

const STEPS: usize = 10_000;

fn template_yaml() -> String {
    layered::layered_yaml(
        &format!(
            "name: generated_{STEPS}\nnamespace_name: generated\nversion: 1.0.0\nstep_templates:\n"
        ),
        STEPS,
        "",
    )
}

fn from_yaml(c: &mut Criterion) {
    let yaml = template_yaml();
    let parsed = TaskTemplate::from_yaml(&yaml, "benches/from_yaml.rs").expect("template parses");
    assert_eq!(parsed.step_templates.len(), STEPS);
    println!("from-yaml-bench: steps={STEPS} bytes={}", yaml.len());

    let mut group = c.benchmark_group("template");
    group.throughput(Throughput::Bytes(yaml.len() as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("from_yaml_10000_steps", |b| {
        b.iter(|| TaskTemplate::from_yaml(black_box(&yaml), "benches/from_yaml.rs").unwrap())
    });
    group.finish();
}

criterion_group!(benches, from_yaml);

fn main() {
    if std::env::var_os("FROM_YAML_ONCE").is_some() {
        let yaml = match std::env::args().nth(1).filter(|a| !a.starts_with('-')) {
            Some(path) => std::fs::read_to_string(path).expect("readable template file"),
            None => template_yaml(),
        };
        let t = TaskTemplate::from_yaml(&yaml, "from_yaml").expect("template parses");
        println!(
            "parsed {} steps from {} bytes",
            t.step_templates.len(),
            yaml.len()
        );
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
