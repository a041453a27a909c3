//! Template analysis beyond the fixtures: cyclic templates (which the resolver refuses but a
//! reviewer still wants analysed) and the edges of the topology vocabulary.

use std::sync::Arc;
use tasker_graph::{analyze_runtime, analyze_template, Dag, GraphError, Topology};
use tasker_model::{StepTemplate, TaskTemplate};
use tasker_resolver::TemplateGraph;

mod common;

/// fetch feeds a three-step loop a -> b -> c -> a, which feeds report; x and y wait on each
/// other; audit hangs off fetch, outside any loop.
const LOOPY: &str = "\
name: loopy
step_templates:
  - {name: fetch, handler_class: H}
  - {name: a, handler_class: H, depends_on_steps: [fetch, c]}
  - {name: b, handler_class: H, depends_on_step: a}
  - {name: c, handler_class: H, depends_on_step: b}
  - {name: report, handler_class: H, depends_on_step: c}
  - {name: audit, handler_class: H, depends_on_step: fetch}
  - {name: x, handler_class: H, depends_on_step: y}
  - {name: y, handler_class: H, depends_on_step: x}
";

fn strs(names: &[Arc<str>]) -> Vec<&str> {
    names.iter().map(|n| &**n).collect()
}

fn topology(parents: Vec<Vec<u32>>) -> Topology {
    Topology::of(&common::named(parents))
}

#[test]
fn a_cyclic_template_is_analysed_not_refused() {
    let template = TaskTemplate::from_yaml(LOOPY, "loopy.yaml").unwrap();
    assert!(TemplateGraph::compile(&template).is_err());
    let dag = Dag::from_template(&template).unwrap();
    let a = analyze_template(&dag);

    let cycles: Vec<Vec<&str>> = a.cycles.iter().map(|c| strs(c)).collect();
    assert_eq!(cycles, vec![vec!["a", "b", "c", "a"], vec!["x", "y", "x"]]);
    assert_eq!(a.topology, Topology::Cyclic);
    assert_eq!(a.topology.to_string(), "cyclic");
    assert_eq!(strs(&a.roots), ["fetch"]);
    assert_eq!(strs(&a.leaves), ["report", "audit"]);
    // a, b, c are on the loop and report is after it, x and y are a loop of their own: none
    // has a level.
    let levels: Vec<Vec<&str>> = a.levels.iter().map(|l| strs(l)).collect();
    assert_eq!(levels, vec![vec!["fetch"], vec!["audit"]]);
    assert_eq!(strs(&a.longest_path), ["fetch", "audit"]);
    assert_eq!(dag.level(dag.index_of("report").unwrap()), None);

    // Downstream walks still terminate, and exclude the step itself.
    let b = dag.index_of("b").unwrap();
    assert_eq!(
        strs(&dag.downstream_impact(b).unwrap().steps),
        ["a", "c", "report"]
    );

    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(json["topology"], "cyclic");
    assert_eq!(json["cycles"][1], serde_json::json!(["x", "y", "x"]));

    // A task's graph must be acyclic: runtime analysis names the cycle instead of guessing.
    let facts = common::fresh(&dag);
    match analyze_runtime(&dag, &facts) {
        Err(GraphError::Cycle { cycle }) => assert_eq!(cycle, ["a", "b", "c", "a"]),
        other => panic!("expected a cycle error, got {other:?}"),
    }
}

#[test]
fn a_step_depending_on_itself_is_a_one_step_cycle() {
    let dag = Dag::new(["solo", "next"], vec![vec![0], vec![0]]).unwrap();
    let a = analyze_template(&dag);
    let cycles: Vec<Vec<&str>> = a.cycles.iter().map(|c| strs(c)).collect();
    assert_eq!(cycles, vec![vec!["solo", "solo"]]);
    assert!(a.levels.is_empty());
    assert!(a.roots.is_empty());
}

#[test]
fn unknown_dependencies_in_a_hand_built_template_are_named() {
    // from_yaml refuses these already; a template built in code does not go through it.
    let mut template = TaskTemplate::from_yaml(LOOPY, "loopy.yaml").unwrap();
    let mut ghost: StepTemplate = template.step_templates[0].clone();
    ghost.name = "ghostly".into();
    ghost.depends_on_step = Some("nowhere".into());
    template.step_templates.push(ghost);
    let e = Dag::from_template(&template).unwrap_err();
    assert_eq!(
        e.to_string(),
        "loopy.yaml (task loopy), step 'ghostly': unknown dependency 'nowhere': no step of that name in this template"
    );
}

#[test]
fn topology_vocabulary() {
    assert_eq!(topology(vec![]), Topology::Empty);
    assert_eq!(topology(vec![vec![]]), Topology::Single);
    assert_eq!(topology(vec![vec![], vec![], vec![]]), Topology::Parallel);
    assert_eq!(topology(vec![vec![], vec![0], vec![1]]), Topology::Linear);
    assert_eq!(topology(vec![vec![], vec![0], vec![0]]), Topology::FanOut);
    assert_eq!(topology(vec![vec![], vec![], vec![0, 1]]), Topology::FanIn);
    assert_eq!(
        topology(vec![vec![], vec![0], vec![0], vec![1, 2]]),
        Topology::Diamond
    );
    // Two separate chains: several roots and leaves, no merging — still only "dag".
    assert_eq!(
        topology(vec![vec![], vec![0], vec![], vec![2]]),
        Topology::Dag
    );
    assert_eq!(topology(vec![vec![1], vec![0]]), Topology::Cyclic);
    assert_eq!(
        serde_json::to_value(Topology::FanOut).unwrap(),
        serde_json::json!("fan_out")
    );
}

#[test]
fn empty_graph_analyses_to_nothing() {
    let dag = common::named(vec![]);
    let a = analyze_template(&dag);
    assert!(a.roots.is_empty() && a.levels.is_empty() && a.longest_path.is_empty());
    let r = analyze_runtime(&dag, &[]).unwrap();
    assert_eq!(r.critical_paths.longest_path_length, 0);
    assert_eq!(r.parallelism_opportunities.max_parallelism, 0);
    assert!(r.bottlenecks.is_empty());
}
