//! The layered DAG the readiness benches run on (this crate's `readiness` and
//! tasker-state's `sql_readiness`) and tasker-model's `from_yaml` parses (both include this
//! file by path), written once so that they measure the same graph. Must not hold anything
//! a bench measures.

/// Steps per layer.
pub const LAYER_WIDTH: usize = 50;
/// Most parents a step has, all in the layer before it.
pub const MAX_PARENTS: usize = 3;
/// Seed of the parents' choice, and of anything else a bench draws at random.
pub const SEED: u64 = 42;

/// The YAML of a template of `steps` steps `s0`, `s1`, … in layers of [`LAYER_WIDTH`], each
/// with 1 to [`MAX_PARENTS`] parents drawn from the layer before. `head` ends with
/// `step_templates:\n`; `step_extra` is added to every step after its `handler_class` line.
pub fn layered_yaml(head: &str, steps: usize, step_extra: &str) -> String {
    let mut rng = fastrand::Rng::with_seed(SEED);
    let mut yaml = head.to_string();
    let mut previous: Vec<usize> = Vec::new();
    for first in (0..steps).step_by(LAYER_WIDTH) {
        let layer: Vec<usize> = (first..(first + LAYER_WIDTH).min(steps)).collect();
        for &i in &layer {
            yaml.push_str(&format!(
                "  - name: s{i}\n    handler_class: Fixtures::NoopHandler\n{step_extra}"
            ));
            if !previous.is_empty() {
                let mut pool = previous.clone();
                rng.shuffle(&mut pool);
                let parents: Vec<String> = pool[..rng.usize(1..=MAX_PARENTS.min(pool.len()))]
                    .iter()
                    .map(|p| format!("s{p}"))
                    .collect();
                yaml.push_str(&format!("    depends_on_steps: [{}]\n", parents.join(", ")));
            }
        }
        previous = layer;
    }
    yaml
}
