//! Property tests of the resolver (issue 23) against a small reference model written here
//! straight from TASKER.md ("Readiness"), through the crate's public API only:
//!
//! - the readiness rules 1-8 and `next_retry_at`, one step and whole tasks;
//! - the execution context derived from them;
//! - graph compilation: accepted exactly when acyclic, with a topological order and levels
//!   that hold, and a reported cycle that is a real one;
//! - the runtime DAG's remaining-parent counters: whatever order steps complete in, a step
//!   is readied exactly once, exactly when its last parent completes.
//!
//! Case counts are kept small so the set runs in a few seconds on two cores;
//! `PROPTEST_CASES=10000 cargo test -p tasker-resolver --test readiness_properties` runs more.

#[path = "support/tasker_context.rs"]
mod tasker_context;

use proptest::prelude::*;
use std::collections::BTreeSet;
use tasker_context::{context_of_steps, Context};
use tasker_model::{State, TaskTemplate, Timestamp};
use tasker_resolver::readiness::{evaluate, evaluate_many, step_readiness, ExecutionStatus};
use tasker_resolver::{ExecutionContext, RuntimeDag, StepReadiness, StepSnapshot, TemplateGraph};

fn cfg(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------
// The reference model.

const MICROS: i128 = 1_000_000;

/// TASKER.md's rules for one step, in plain arithmetic (i128 and f64, so nothing can
/// overflow): (ready, retry_eligible, next_retry_at).
fn reference_step(
    s: &StepSnapshot,
    parents_done: bool,
    now: Timestamp,
) -> (bool, bool, Option<i128>) {
    let rule1 = s.state == State::Pending || s.state == State::Error;
    let rule2 = !s.processed;
    let rule3 = parents_done;
    let rule4 = s.attempts.unwrap_or(0) < s.retry_limit.unwrap_or(3);
    let rule5 = s.retryable;
    let rule6 = !s.in_process;
    let rule7_time = match (s.backoff_request_seconds, s.last_attempted_at) {
        (Some(b), Some(last)) => Some(last.0 as i128 + b as i128 * MICROS),
        _ => None,
    };
    let rule8_time = match (s.state, s.state_entered_at) {
        (State::Error, Some(entered)) => {
            let delay = 2f64.powf(s.attempts.unwrap_or(1) as f64).min(30.0) as i128;
            Some(entered.0 as i128 + delay * MICROS)
        }
        _ => None,
    };
    let rule7 = rule7_time.is_none_or(|t| t <= now.0 as i128);
    let rule8 = rule8_time.is_none_or(|t| t <= now.0 as i128);
    let ready = rule1 && rule2 && rule3 && rule4 && rule5 && rule6 && rule7 && rule8;
    (ready, rule4 && rule5, rule7_time.or(rule8_time))
}

fn assert_matches_reference(
    got: &StepReadiness,
    s: &StepSnapshot,
    parents_done: bool,
    now: Timestamp,
) {
    let (ready, eligible, next) = reference_step(s, parents_done, now);
    assert_eq!(
        got.ready, ready,
        "ready for {s:?}, parents done {parents_done}, now {now:?}"
    );
    assert_eq!(got.retry_eligible, eligible, "retry_eligible for {s:?}");
    assert_eq!(got.dependencies_satisfied, parents_done);
    assert_eq!(
        got.next_retry_at.map(|t| t.0 as i128),
        next,
        "next_retry_at for {s:?}"
    );
}

/// The execution context as TASKER.md words it, and the count of permanently blocked steps.
fn reference_context(steps: &[StepSnapshot], readiness: &[StepReadiness]) -> (Context, usize) {
    let blocked = |s: &StepSnapshot| {
        s.state == State::Error && s.attempts.unwrap_or(0) >= s.retry_limit.unwrap_or(3)
    };
    assert_eq!(steps.len(), readiness.len(), "one readiness a step");
    context_of_steps(
        steps
            .iter()
            .zip(readiness)
            .map(|(s, r)| (s.state.as_str(), r.ready, blocked(s))),
    )
}

/// Is the graph (edges parent → child over `n` steps) free of cycles? Kahn's algorithm:
/// keep removing steps with no remaining parents; a cycle is what is left.
fn reference_acyclic(n: usize, edges: &BTreeSet<(usize, usize)>) -> bool {
    let mut removed = vec![false; n];
    loop {
        let next =
            (0..n).find(|&c| !removed[c] && !edges.iter().any(|&(p, c2)| c2 == c && !removed[p]));
        match next {
            Some(c) => removed[c] = true,
            None => return removed.iter().all(|&r| r),
        }
    }
}

/// Longest path from a root to each step, by recursion over parents.
fn reference_level(step: usize, edges: &BTreeSet<(usize, usize)>) -> u32 {
    edges
        .iter()
        .filter(|&&(_, c)| c == step)
        .map(|&(p, _)| reference_level(p, edges) + 1)
        .max()
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// Generators.

fn name(i: usize) -> String {
    format!("s{i}")
}

/// A template over `n` steps with the given parent → child edges.
fn template(n: usize, edges: &BTreeSet<(usize, usize)>) -> TaskTemplate {
    let mut yaml = String::from("name: prop\nstep_templates:\n");
    for c in 0..n {
        let parents: Vec<String> = edges
            .iter()
            .filter(|&&(_, c2)| c2 == c)
            .map(|&(p, _)| name(p))
            .collect();
        yaml.push_str(&format!(
            "  - {{name: {}, handler_class: H, depends_on_steps: [{}]}}\n",
            name(c),
            parents.join(", ")
        ));
    }
    TaskTemplate::from_yaml(&yaml, "prop.yaml").expect("the generator writes valid templates")
}

/// Any graph (cycles allowed, no step depending on itself, which the template checks
/// refuse before a graph is built).
fn any_graph() -> impl Strategy<Value = (usize, BTreeSet<(usize, usize)>)> {
    (1usize..9).prop_flat_map(|n| {
        let edges = prop::collection::btree_set((0..n, 0..n), 0..(n * 2));
        (
            Just(n),
            edges.prop_map(|e| e.into_iter().filter(|(p, c)| p != c).collect()),
        )
    })
}

/// A DAG: edges only from a lower to a higher position in a random permutation, so the
/// template order is not the topological one.
fn dag() -> impl Strategy<Value = (usize, BTreeSet<(usize, usize)>)> {
    (1usize..12).prop_flat_map(|n| {
        let perm = Just((0..n).collect::<Vec<_>>()).prop_shuffle();
        let pairs = prop::collection::btree_set((0..n, 0..n), 0..(n * 2));
        (Just(n), perm, pairs).prop_map(|(n, perm, pairs)| {
            let edges = pairs
                .into_iter()
                .filter(|(a, b)| a < b)
                .map(|(a, b)| (perm[a], perm[b]))
                .collect();
            (n, edges)
        })
    })
}

/// Around a fixed "now": times within ±100 s of it, so both sides of every backoff occur.
const NOW: i64 = 1_700_000_000_000_000;

fn time() -> impl Strategy<Value = Timestamp> {
    (-100_000_000i64..100_000_000).prop_map(|d| Timestamp(NOW + d))
}

prop_compose! {
    /// A step as any store could hold it: Tasker's columns are int4 and timestamps, and NULL
    /// where the schema allows it.
    fn snapshot()(
        state in prop::sample::select(State::ALL.to_vec()),
        processed in any::<bool>(),
        in_process in any::<bool>(),
        retryable in any::<bool>(),
        attempts in prop::option::of(prop_oneof![0u32..8, any::<u32>()]),
        retry_limit in prop::option::of(prop_oneof![0u32..8, any::<u32>()]),
        backoff_request_seconds in prop::option::of(prop_oneof![
            -5i64..120,
            (i32::MIN as i64)..=(i32::MAX as i64)
        ]),
        last_attempted_at in prop::option::of(time()),
        state_entered_at in prop::option::of(time()),
    ) -> StepSnapshot {
        StepSnapshot {
            state, processed, in_process, retryable, attempts, retry_limit,
            backoff_request_seconds, last_attempted_at, state_entered_at,
        }
    }
}

// ---------------------------------------------------------------------------------------
// The properties.

proptest! {
    #![proptest_config(cfg(2000))]

    /// One step: rules 1-8 and next_retry_at as TASKER.md states them.
    #[test]
    fn one_step_follows_the_rules(s in snapshot(), parents_done in any::<bool>(), now in time()) {
        assert_matches_reference(&step_readiness(&s, parents_done, now), &s, parents_done, now);
    }
}

proptest! {
    #![proptest_config(cfg(256))]

    /// A whole task: each step's parents are taken from the graph, then the rules apply;
    /// the execution context counts what the reference counts; many tasks at once give
    /// what each alone gives.
    #[test]
    fn a_task_follows_the_rules(
        (n, edges, steps) in dag().prop_flat_map(|(n, edges)| (Just(n), Just(edges), prop::collection::vec(snapshot(), n))),
        now in time(),
    ) {
        let t = template(n, &edges);
        let g = TemplateGraph::compile(&t).unwrap();
        let out = evaluate(&g, &steps, Timestamp(now.0));
        for (i, r) in out.iter().enumerate() {
            let parents_done = edges.iter().filter(|&&(_, c)| c == i).all(|&(p, _)| steps[p].state.satisfies_dependents());
            assert_matches_reference(r, &steps[i], parents_done, now);
        }

        let c = ExecutionContext::derive(&steps, &out);
        let ((total, pending, in_progress, completed, failed, ready, status, health), blocked) = reference_context(&steps, &out);
        prop_assert_eq!(c.total_steps, total);
        prop_assert_eq!(c.total_steps, n);
        prop_assert_eq!((c.pending_steps, c.in_progress_steps, c.completed_steps, c.failed_steps, c.ready_steps, c.permanently_blocked_steps),
                        (pending, in_progress, completed, failed, ready, blocked));
        prop_assert_eq!(c.execution_status.as_str(), status);
        prop_assert_eq!(c.health_status, health);
        let status_enum = [ExecutionStatus::HasReadySteps, ExecutionStatus::Processing, ExecutionStatus::BlockedByFailures,
                           ExecutionStatus::AllComplete, ExecutionStatus::WaitingForDependencies]
            .into_iter().find(|s| s.as_str() == status).unwrap();
        prop_assert_eq!(c.execution_status.recommended_action(), status_enum.recommended_action());
        let expected_pct = (completed as f64 * 100.0 / n as f64 * 100.0).round() / 100.0;
        prop_assert!((c.completion_percentage - expected_pct).abs() < 1e-9, "{} vs {}", c.completion_percentage, expected_pct);

        let many = evaluate_many(&[(&g, &steps[..]), (&g, &steps[..])], now);
        prop_assert_eq!(&many[0], &out);
        prop_assert_eq!(&many[1], &out);
    }

    /// Compilation accepts exactly the acyclic graphs. An accepted graph keeps the
    /// template's edges, orders parents before children and levels steps by their longest
    /// path from a root; a refused one names a cycle whose every link is a dependency.
    #[test]
    fn compile_accepts_exactly_the_acyclic_graphs((n, edges) in any_graph()) {
        let t = template(n, &edges);
        match TemplateGraph::compile(&t) {
            Ok(g) => {
                prop_assert!(reference_acyclic(n, &edges), "a cycle was accepted: {:?}", edges);
                prop_assert_eq!(g.len(), n);
                for c in 0..n {
                    let parents: BTreeSet<u32> = g.parents(c as u32).iter().copied().collect();
                    let expected: BTreeSet<u32> = edges.iter().filter(|&&(_, c2)| c2 == c).map(|&(p, _)| p as u32).collect();
                    prop_assert_eq!(parents, expected);
                    let children: BTreeSet<u32> = g.children(c as u32).iter().copied().collect();
                    let expected: BTreeSet<u32> = edges.iter().filter(|&&(p, _)| p == c).map(|&(_, c2)| c2 as u32).collect();
                    prop_assert_eq!(children, expected);
                    prop_assert_eq!(g.level(c as u32), reference_level(c, &edges));
                    prop_assert_eq!(g.index_of(&name(c)), Some(c as u32));
                }
                let order = g.topological_order();
                let mut seen: Vec<u32> = order.to_vec();
                seen.sort();
                prop_assert_eq!(seen, (0..n as u32).collect::<Vec<_>>());
                let pos = |s: usize| order.iter().position(|&x| x as usize == s).unwrap();
                for &(p, c) in &edges {
                    prop_assert!(pos(p) < pos(c));
                }
                let levels = g.levels();
                prop_assert_eq!(levels.iter().map(Vec::len).sum::<usize>(), n);
                prop_assert_eq!(levels[0].clone(), g.roots().collect::<Vec<_>>());
            }
            Err(e) => {
                prop_assert!(!reference_acyclic(n, &edges), "an acyclic graph was refused: {}", e);
                let m = e.to_string();
                let path = m.split("dependency cycle: ").nth(1).unwrap_or_else(|| panic!("no cycle in {m}"));
                let steps: Vec<usize> = path.split(" -> ").map(|s| s[1..].parse().unwrap()).collect();
                prop_assert!(steps.len() >= 3 && steps.first() == steps.last(), "{}", m);
                for link in steps.windows(2) {
                    prop_assert!(edges.contains(&(link[0], link[1])), "{} -> {} is no dependency in {}", link[0], link[1], m);
                }
            }
        }
    }

    /// Remaining-parent counters, in any completion order: a step is readied once, exactly
    /// when its last parent is satisfied; a replayed completion readies nothing; every step
    /// of a DAG is readied in the end.
    #[test]
    fn runtime_dag_readies_each_step_once_when_its_parents_are_done(
        (n, edges) in dag(),
        picks in prop::collection::vec(any::<prop::sample::Index>(), 12),
        replays in prop::collection::vec(any::<bool>(), 12),
    ) {
        let g = TemplateGraph::compile(&template(n, &edges)).unwrap();
        let mut dag = RuntimeDag::new(&g);
        let parents_of = |c: usize| edges.iter().filter(move |&&(_, c2)| c2 == c).map(|&(p, _)| p);
        let mut done = BTreeSet::new();
        let mut ready: Vec<u32> = (0..n as u32).filter(|&i| dag.dependencies_met(i)).collect();
        prop_assert_eq!(ready.clone(), (0..n).filter(|&c| parents_of(c).next().is_none()).map(|c| c as u32).collect::<Vec<_>>());
        let mut readied = ready.clone();
        for (pick, replay) in picks.iter().zip(replays.iter().cycle()).take(n) {
            let step = ready.remove(pick.index(ready.len()));
            done.insert(step as usize);
            let mut newly = Vec::new();
            dag.satisfy(&g, step, &mut newly);
            if *replay {
                let mut again = Vec::new();
                dag.satisfy(&g, step, &mut again);
                prop_assert!(again.is_empty(), "a replayed completion readied {:?}", again);
            }
            let expected: BTreeSet<u32> = (0..n)
                .filter(|&c| parents_of(c).any(|p| p == step as usize) && parents_of(c).all(|p| done.contains(&p)))
                .map(|c| c as u32)
                .collect();
            prop_assert_eq!(newly.iter().copied().collect::<BTreeSet<_>>(), expected);
            prop_assert_eq!(newly.len(), newly.iter().collect::<BTreeSet<_>>().len(), "readied twice: {:?}", newly);
            for c in 0..n {
                prop_assert_eq!(dag.dependencies_met(c as u32), parents_of(c).all(|p| done.contains(&p)));
                prop_assert_eq!(dag.is_satisfied(c as u32), done.contains(&c));
            }
            prop_assert_eq!(dag.satisfied_count(), done.len());
            readied.extend(&newly);
            ready.extend(newly);
        }
        readied.sort();
        prop_assert_eq!(readied, (0..n as u32).collect::<Vec<_>>());
    }
}
