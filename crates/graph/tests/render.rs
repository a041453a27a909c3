//! Pictures: exact text for a small case, escaping, and validity — every DOT output is fed
//! to Graphviz when `dot` is installed.

use std::io::Write;
use std::process::{Command, Stdio};
use tasker_graph::{analyze_template, to_dot, to_mermaid, Dag, StepFacts};
use tasker_model::State::{self, *};

mod common;

use common::fixture;

fn facts(states: &[State]) -> Vec<StepFacts> {
    states
        .iter()
        .enumerate()
        .map(|(i, &state)| StepFacts {
            id: i as i64,
            state,
            ready: false,
            duration_ms: None,
        })
        .collect()
}

/// Renders `text` with `dot -Tsvg`; `None` (after saying so) when Graphviz is not installed.
fn graphviz_svg(text: &str) -> Option<String> {
    let child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        println!("skipped: Graphviz `dot` is not on PATH");
        return None;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "dot rejected:\n{stderr}\n{text}"
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

#[test]
fn mermaid_of_a_diamond_partway() {
    let dag = fixture("patterns/diamond.yaml");
    let f = facts(&[Complete, Error, InProgress, Pending]);
    let critical = [0, 1, 3];
    assert_eq!(
        to_mermaid(&dag, Some(&f), &critical),
        "\
flowchart TD
    s0[\"start\"]
    s1[\"left\"]
    s2[\"right\"]
    s3[\"join\"]
    s0 --> s1
    s0 --> s2
    s1 --> s3
    s2 --> s3
    classDef pending fill:#eeeeee,stroke:#9e9e9e,color:#212121
    class s3 pending
    classDef in_progress fill:#bbdefb,stroke:#1976d2,color:#212121
    class s2 in_progress
    classDef complete fill:#c8e6c9,stroke:#388e3c,color:#212121
    class s0 complete
    classDef error fill:#ffcdd2,stroke:#c62828,color:#212121
    class s1 error
    classDef critical stroke:#d32f2f,stroke-width:3px
    class s0,s1,s3 critical
    linkStyle 0,2 stroke:#d32f2f,stroke-width:3px
"
    );
}

#[test]
fn template_pictures_are_neutral() {
    let dag = fixture("patterns/linear.yaml");
    let m = to_mermaid(&dag, None, &[]);
    assert!(m.contains("    classDef neutral fill:#ffffff"), "{m}");
    assert!(m.contains("    class s0,s1,s2,s3 neutral\n"), "{m}");
    assert!(!m.contains("critical") && !m.contains("linkStyle"), "{m}");
    let d = to_dot(&dag, None, &[]);
    assert!(!d.contains("penwidth"), "{d}");
    assert!(d.contains("    s0 [label=\"step_1\"];\n"), "{d}");
}

#[test]
fn dot_of_a_diamond_partway() {
    let dag = fixture("patterns/diamond.yaml");
    let f = facts(&[Complete, Error, InProgress, Pending]);
    let d = to_dot(&dag, Some(&f), &[0, 1, 3]);
    assert!(
        d.starts_with("digraph workflow {\n    rankdir=TB;\n"),
        "{d}"
    );
    assert!(d.contains("style=\"rounded,filled\""), "{d}");
    assert!(d.contains("    s1 [label=\"left\", fillcolor=\"#ffcdd2\", tooltip=\"error\", penwidth=3, color=\"#d32f2f\"];\n"), "{d}");
    assert!(d.contains("    s2 [label=\"right\", fillcolor=\"#bbdefb\", tooltip=\"in_progress\", color=\"#1976d2\"];\n"), "{d}");
    assert!(d.contains("    s0 -> s1 [penwidth=3, color=red];\n"), "{d}");
    assert!(d.contains("    s1 -> s3 [penwidth=3, color=red];\n"), "{d}");
    assert!(
        d.contains("    s0 -> s2;\n") && d.contains("    s2 -> s3;\n"),
        "{d}"
    );
    graphviz_svg(&d);
}

#[test]
fn hostile_names_are_escaped() {
    let names = [
        r#"say "hi""#,
        r"back\slash \N",
        "two\nlines",
        "a --> b; end",
        "#35; <b>&amp;</b> `x`",
        "ünïcødé 名前",
    ];
    let dag = Dag::new(
        names,
        vec![vec![], vec![0], vec![1], vec![2], vec![3], vec![4]],
    )
    .unwrap();
    let path = dag.longest_path();

    let m = to_mermaid(&dag, None, &path);
    assert!(m.contains("    s0[\"say #quot;hi#quot;\"]\n"), "{m}");
    assert!(m.contains("    s2[\"two lines\"]\n"), "{m}");
    assert!(
        m.contains("    s4[\"#35;35; #lt;b#gt;#amp;amp;#lt;/b#gt; #96;x#96;\"]\n"),
        "{m}"
    );
    // Every node line keeps the quoted-label form: nothing escaped the quotes.
    for line in m.lines().skip(1).take(names.len()) {
        assert_eq!(line.matches('"').count(), 2, "{line}");
    }

    let d = to_dot(&dag, None, &path);
    assert!(d.contains(r#"s0 [label="say \"hi\""#), "{d}");
    assert!(d.contains(r#"s1 [label="back\\slash \\N""#), "{d}");
    if let Some(svg) = graphviz_svg(&d) {
        assert!(svg.contains("say &quot;hi&quot;"), "{svg}");
        assert!(svg.contains(r"back\slash \N"), "{svg}");
        assert!(svg.contains("ünïcødé 名前"), "{svg}");
    }
}

#[test]
fn every_fixture_and_a_cyclic_graph_render_valid_dot() {
    let mut dags = Vec::new();
    for f in common::FIXTURES {
        dags.push(fixture(f));
    }
    dags.push(
        Dag::new(
            ["a", "b", "c", "d"],
            vec![vec![2], vec![0], vec![1], vec![2]],
        )
        .unwrap(),
    );
    dags.push(common::random_layered(300, 15, 3, 5));
    for dag in &dags {
        let critical = analyze_template(dag);
        let path: Vec<u32> = critical
            .longest_path
            .iter()
            .filter_map(|n| dag.index_of(n))
            .collect();
        let facts = common::partway(dag, 0.4, 6, 3);
        for text in [to_dot(dag, None, &path), to_dot(dag, Some(&facts), &path)] {
            graphviz_svg(&text);
        }
    }
}

#[test]
fn bad_marks_and_short_facts_do_not_panic() {
    let dag = fixture("patterns/diamond.yaml");
    let f = facts(&[Complete]);
    // Out-of-range indices are dropped; 0 -> 3 is not an edge, so no edge is marked.
    let m = to_mermaid(&dag, Some(&f), &[0, 3, 99]);
    assert!(m.contains("class s0,s3 critical"), "{m}");
    assert!(!m.contains("linkStyle"), "{m}");
    assert!(m.contains("class s1,s2,s3 neutral"), "{m}");
    let d = to_dot(&dag, Some(&f), &[99, 0]);
    assert!(!d.contains("color=red"), "{d}");
    graphviz_svg(&d);
}
