//! SVG pictures read back with an XML parser: well-formed for every fixture and for hostile
//! names, every step and edge present once, children drawn below their parents, boxes never
//! overlapping, arrows running from parent to child, the marked classes, determinism, and
//! 10,000-step graphs drawn (no timing here: `benches/analysis.rs` measures).

use tasker_graph::{to_svg, Dag, StepFacts};
use tasker_model::State::{self, *};

mod common;

use common::fixture;

fn facts(states: &[State]) -> Vec<StepFacts> {
    states
        .iter()
        .enumerate()
        .map(|(i, &state)| StepFacts {
            id: 100 + i as i64,
            state,
            ready: false,
            duration_ms: None,
        })
        .collect()
}

#[derive(Debug)]
struct Step {
    index: u32,
    name: String,
    title: String,
    classes: Vec<String>,
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

#[derive(Debug)]
struct Edge {
    from: u32,
    to: u32,
    classes: Vec<String>,
    /// First and last point of the path.
    start: (f64, f64),
    end: (f64, f64),
}

struct Picture {
    steps: Vec<Step>,
    edges: Vec<Edge>,
    size: (f64, f64),
}

fn number(s: Option<&str>) -> f64 {
    s.expect("attribute present").parse().expect("a number")
}

fn classes(node: &roxmltree::Node) -> Vec<String> {
    node.attribute("class")
        .unwrap_or("")
        .split(' ')
        .map(String::from)
        .collect()
}

/// Parses `svg` (panicking, with the text, if it is not well-formed XML) into its steps and
/// edges.
fn read(svg: &str) -> Picture {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    let size = (
        number(root.attribute("width")),
        number(root.attribute("height")),
    );
    assert_eq!(
        root.attribute("viewBox"),
        Some(
            format!(
                "0 0 {} {}",
                root.attribute("width").unwrap(),
                root.attribute("height").unwrap()
            )
            .as_str()
        )
    );
    let mut steps = Vec::new();
    let mut edges = Vec::new();
    for node in root.descendants() {
        let cls = classes(&node);
        if node.has_tag_name("g") && cls.first().map(String::as_str) == Some("step") {
            let id = node.attribute("id").expect("step id");
            let rect = node
                .children()
                .find(|c| c.has_tag_name("rect"))
                .expect("rect");
            let title = node
                .children()
                .find(|c| c.has_tag_name("title"))
                .expect("title");
            assert!(node.children().any(|c| c.has_tag_name("text")));
            steps.push(Step {
                index: id.strip_prefix("step-").expect("step-N").parse().unwrap(),
                name: node.attribute("data-step").expect("data-step").to_string(),
                title: title.text().unwrap_or("").to_string(),
                classes: cls,
                x: number(rect.attribute("x")),
                y: number(rect.attribute("y")),
                w: number(rect.attribute("width")),
                h: number(rect.attribute("height")),
            });
        } else if node.has_tag_name("path") && cls.first().map(String::as_str) == Some("edge") {
            let d = node.attribute("d").expect("d");
            let nums: Vec<f64> = d
                .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().unwrap())
                .collect();
            assert!(nums.len() >= 4 && nums.len().is_multiple_of(2), "path {d}");
            edges.push(Edge {
                from: number(node.attribute("data-from")) as u32,
                to: number(node.attribute("data-to")) as u32,
                classes: cls,
                start: (nums[0], nums[1]),
                end: (nums[nums.len() - 2], nums[nums.len() - 1]),
            });
        }
    }
    Picture { steps, edges, size }
}

/// The checks every picture of an acyclic graph must pass.
fn check_acyclic(dag: &Dag, pic: &Picture) {
    assert_eq!(pic.steps.len(), dag.len());
    let mut indices: Vec<u32> = pic.steps.iter().map(|s| s.index).collect();
    indices.sort_unstable();
    assert_eq!(
        indices,
        (0..dag.len() as u32).collect::<Vec<_>>(),
        "each step once"
    );
    assert_eq!(pic.edges.len(), dag.edge_count());
    let by_index = |i: u32| &pic.steps[pic.steps.iter().position(|s| s.index == i).unwrap()];
    for e in &pic.edges {
        assert!(
            dag.children(e.from).unwrap().contains(&e.to),
            "{e:?} is an edge"
        );
        let (p, c) = (by_index(e.from), by_index(e.to));
        assert!(
            c.y >= p.y + p.h,
            "{} is drawn below its parent {}",
            c.name,
            p.name
        );
        // From the parent's bottom edge to the child's top edge.
        assert!(
            (e.start.1 - (p.y + p.h)).abs() < 0.11 && e.start.0 >= p.x && e.start.0 <= p.x + p.w
        );
        assert!((e.end.1 - c.y).abs() < 0.11 && e.end.0 >= c.x && e.end.0 <= c.x + c.w);
    }
    for s in &pic.steps {
        assert!(s.x >= 0.0 && s.y >= 0.0 && s.x + s.w <= pic.size.0 && s.y + s.h <= pic.size.1);
    }
    // No two boxes overlap: sort each row by x and compare neighbours.
    let mut rows: Vec<&Step> = pic.steps.iter().collect();
    rows.sort_by(|a, b| a.y.total_cmp(&b.y).then(a.x.total_cmp(&b.x)));
    for pair in rows.windows(2) {
        if pair[0].y == pair[1].y {
            assert!(
                pair[0].x + pair[0].w < pair[1].x,
                "{} overlaps {}",
                pair[0].name,
                pair[1].name
            );
        }
    }
}

#[test]
fn every_fixture_draws_well_formed_with_each_step_and_edge_once() {
    for relative in common::FIXTURES {
        let dag = fixture(relative);
        let path_steps = dag.longest_path();
        check_acyclic(&dag, &read(&to_svg(&dag, None, &path_steps)));
        let states: Vec<State> = (0..dag.len()).map(|i| State::ALL[i % 6]).collect();
        let pic = read(&to_svg(&dag, Some(&facts(&states)), &path_steps));
        check_acyclic(&dag, &pic);
        for s in &pic.steps {
            let name = dag.name(s.index).unwrap();
            assert_eq!(&*s.name, &**name);
            assert!(s
                .classes
                .contains(&format!("state-{}", states[s.index as usize].as_str())));
        }
    }
}

#[test]
fn hostile_names_are_escaped_and_read_back_intact() {
    let names = [
        "<script>alert(1)</script>",
        "a & b \"quoted\" 'single'",
        "]]></svg><svg>",
        "two\nlines\ttab",
        "ctl\u{1}\u{1b}char",
        "注文を処理する 🚀",
        "&amp; already",
    ];
    let dag = Dag::new(
        names,
        vec![
            vec![],
            vec![0],
            vec![0],
            vec![1, 2],
            vec![3],
            vec![4],
            vec![5],
        ],
    )
    .unwrap();
    let svg = to_svg(
        &dag,
        Some(&facts(&[
            Complete, Error, Pending, Pending, Pending, Pending, Pending,
        ])),
        &[0, 1],
    );
    assert!(!svg.contains("<script"));
    let pic = read(&svg);
    check_acyclic(&dag, &pic);
    let step = |i: usize| pic.steps.iter().find(|s| s.index == i as u32).unwrap();
    for (i, name) in names.iter().enumerate() {
        let expected = name.replace(['\u{1}', '\u{1b}'], "\u{FFFD}");
        assert_eq!(step(i).name, expected, "data-step keeps the exact name");
        assert!(step(i)
            .title
            .starts_with(&expected.replace(['\n', '\t'], " ")));
    }
    assert_eq!(step(1).title, "a & b \"quoted\" 'single' (error)");
}

#[test]
fn failed_steps_critical_path_and_error_chain_are_marked() {
    // a -> b -> d, a -> c -> d; b failed; the path a, b, d marked.
    let dag = common::named(vec![vec![], vec![0], vec![0], vec![1, 2]]);
    let f = facts(&[Complete, Error, Complete, Pending]);
    let svg = to_svg(&dag, Some(&f), &[0, 1, 3]);
    let pic = read(&svg);
    check_acyclic(&dag, &pic);
    let step = |i: u32| pic.steps.iter().find(|s| s.index == i).unwrap();
    assert_eq!(
        step(1).classes,
        ["step", "state-error", "critical", "failed"]
    );
    // a led to b's failure: on its error chain.
    assert_eq!(
        step(0).classes,
        ["step", "state-complete", "critical", "error-chain"]
    );
    assert_eq!(step(2).classes, ["step", "state-complete"]);
    // d waits behind b: blocked.
    assert_eq!(
        step(3).classes,
        ["step", "state-pending", "critical", "blocked"]
    );
    assert!(svg
        .contains("id=\"step-1\" data-step=\"step_1\" data-state=\"error\" data-step-id=\"101\""));
    let edge = |p: u32, c: u32| pic.edges.iter().find(|e| e.from == p && e.to == c).unwrap();
    assert_eq!(edge(0, 1).classes, ["edge", "critical", "error-chain"]);
    assert_eq!(edge(1, 3).classes, ["edge", "critical", "blocked"]);
    assert_eq!(edge(2, 3).classes, ["edge"]);
    assert_eq!(edge(0, 2).classes, ["edge"]);
    // The legend lists the states present, in State::ALL order, then the marked path.
    let legend = &svg[svg.find("<g class=\"legend\"").expect("a legend")..];
    let order: Vec<usize> = [
        "pending<",
        "complete<",
        "error<",
        "error chain<",
        "blocked by an error<",
        "critical path<",
    ]
    .iter()
    .map(|t| legend.find(t).unwrap_or_else(|| panic!("{t} in {legend}")))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]));
    assert!(!legend.contains("in_progress"));
    // A template has no state classes and no legend.
    let plain_svg = to_svg(&dag, None, &[]);
    assert!(!plain_svg.contains("legend"));
    let plain = read(&plain_svg);
    assert!(plain.steps.iter().all(|s| s.classes == ["step"]));
    assert!(plain.edges.iter().all(|e| e.classes == ["edge"]));
}

#[test]
fn the_error_chain_is_every_path_from_the_roots_to_a_failed_step() {
    // Roots r1 (0) and r2 (1); x (2) needs both; f (3) needs x and failed; y (4) needs r1
    // only; z (5) needs f and waits; w (6) needs y and z.
    let dag = common::named(vec![
        vec![],
        vec![],
        vec![0, 1],
        vec![2],
        vec![0],
        vec![3],
        vec![4, 5],
    ]);
    let f = facts(&[
        Complete, Complete, Complete, Error, Complete, Pending, Pending,
    ]);
    let pic = read(&to_svg(&dag, Some(&f), &[]));
    check_acyclic(&dag, &pic);
    let on_chain = |i: u32| {
        let step = pic.steps.iter().find(|s| s.index == i).unwrap();
        step.classes.iter().any(|c| c == "error-chain")
    };
    let chained: Vec<u32> = (0..7).filter(|&i| on_chain(i)).collect();
    assert_eq!(
        chained,
        [0, 1, 2],
        "the failed step's ancestors, and only they"
    );
    let mut chain_edges: Vec<(u32, u32)> = pic
        .edges
        .iter()
        .filter(|e| e.classes.iter().any(|c| c == "error-chain"))
        .map(|e| (e.from, e.to))
        .collect();
    chain_edges.sort_unstable();
    assert_eq!(chain_edges, [(0, 2), (1, 2), (2, 3)]);
    let classes = |p: u32, c: u32| {
        let e = pic.edges.iter().find(|e| e.from == p && e.to == c).unwrap();
        e.classes.clone()
    };
    assert_eq!(classes(0, 4), ["edge"]);
    assert_eq!(classes(3, 5), ["edge", "blocked"]);
    assert_eq!(classes(4, 6), ["edge"]);
    // No failure, no chain.
    let fine = facts(&[
        Complete, Complete, Complete, Complete, Complete, Pending, Pending,
    ]);
    let svg = to_svg(&dag, Some(&fine), &[]);
    assert!(!svg.contains("error-chain") && !svg.contains("error chain"));
}

#[test]
fn ordering_removes_an_avoidable_crossing() {
    // Parents a, b; c depends on b and d on a: drawn in step order the two edges would
    // cross, so the children swap.
    let dag = Dag::new(["a", "b", "c", "d"], vec![vec![], vec![], vec![1], vec![0]]).unwrap();
    let pic = read(&to_svg(&dag, None, &[]));
    let x = |i: u32| pic.steps.iter().find(|s| s.index == i).unwrap().x;
    assert!(x(0) < x(1));
    assert!(x(3) < x(2), "d under a, c under b");
}

#[test]
fn long_edges_route_around_the_steps_between() {
    // a -> b -> c -> d and a -> d: the long edge gets dummy points, so its curve passes
    // beside b and c, never through their boxes.
    let dag = common::named(vec![vec![], vec![0], vec![1], vec![2, 0]]);
    let svg = to_svg(&dag, None, &[]);
    let pic = read(&svg);
    check_acyclic(&dag, &pic);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let d = doc
        .descendants()
        .find(|n| n.attribute("data-from") == Some("0") && n.attribute("data-to") == Some("3"))
        .unwrap()
        .attribute("d")
        .unwrap();
    assert_eq!(
        d.matches('L').count(),
        2,
        "one straight run per layer crossed: {d}"
    );
    let xs: Vec<f64> = d
        .split([' ', 'M', 'C', 'L', ','])
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .step_by(2)
        .collect();
    for middle in [1, 2] {
        let s = pic.steps.iter().find(|s| s.index == middle).unwrap();
        // M, C (3 points), L: the straight run beside layer 1 is point 4, layer 2's point 8.
        let run = xs[4 * middle as usize];
        assert!(
            run < s.x || run > s.x + s.w,
            "the edge runs beside {}: {d}",
            s.name
        );
    }
}

#[test]
fn cycles_and_self_loops_are_drawn_not_refused() {
    // a -> b -> c -> a, c -> d, d depends on itself.
    let dag = Dag::new(
        ["a", "b", "c", "d"],
        vec![vec![2], vec![0], vec![1], vec![2, 3]],
    )
    .unwrap();
    let pic = read(&to_svg(&dag, None, &[0, 1, 2]));
    assert_eq!(pic.steps.len(), 4);
    assert_eq!(pic.edges.len(), dag.edge_count());
    let back: Vec<(u32, u32)> = pic
        .edges
        .iter()
        .filter(|e| e.classes.contains(&"back".to_string()))
        .map(|e| (e.from, e.to))
        .collect();
    assert_eq!(back, [(2, 0), (3, 3)]);
    let y = |i: u32| pic.steps.iter().find(|s| s.index == i).unwrap().y;
    assert!(y(0) < y(1) && y(1) < y(2) && y(2) < y(3));
}

#[test]
fn odd_inputs_still_draw() {
    let empty = Dag::new(Vec::<&str>::new(), vec![]).unwrap();
    let pic = read(&to_svg(&empty, None, &[]));
    assert!(pic.steps.is_empty() && pic.edges.is_empty());
    // Facts for only some steps and a path naming steps that do not exist.
    let dag = common::named(vec![vec![], vec![0], vec![1]]);
    let pic = read(&to_svg(&dag, Some(&facts(&[Error])), &[7, 0, 1, 99]));
    check_acyclic(&dag, &pic);
    assert_eq!(pic.steps[2].classes, ["step"]);
}

#[test]
fn output_is_deterministic() {
    let build = || common::random_layered(600, 20, 3, 7);
    let (a, b) = (build(), build());
    let f = common::partway(&a, 0.3, 50, 3);
    let path = a.longest_path();
    let first = to_svg(&a, Some(&f), &path);
    assert_eq!(first, to_svg(&b, Some(&f), &path));
    assert_eq!(first, to_svg(&a, Some(&f), &path));
    check_acyclic(&a, &read(&first));
}

#[test]
fn past_the_dummy_cap_long_edges_are_drawn_directly() {
    // A 3,000-step chain whose root also feeds every step: ~4.5 million dummy points
    // uncapped. Past the cap the longest edges become one curve each; the picture is still
    // complete and well-formed.
    let n = 3_000u32;
    let parents = (0..n)
        .map(|i| match i {
            0 => vec![],
            1 => vec![0],
            _ => vec![i - 1, 0],
        })
        .collect();
    let dag = common::named(parents);
    let svg = to_svg(&dag, None, &[]);
    check_acyclic(&dag, &read(&svg));
    let longest = svg
        .lines()
        .find(|l| l.contains("data-from=\"0\" data-to=\"2999\""))
        .unwrap();
    assert!(!longest.contains(" L"), "drawn directly: {longest}");
    let short = svg
        .lines()
        .find(|l| l.contains("data-from=\"0\" data-to=\"2\""))
        .unwrap();
    assert!(
        short.contains(" L"),
        "routed through one dummy point: {short}"
    );
}

#[test]
fn ten_thousand_step_graphs_draw() {
    for dag in [
        common::random_layered(10_000, 50, 3, 42),
        common::wide(10_000),
        common::chainish(10_000),
    ] {
        let f = common::partway(&dag, 0.3, 500, 9);
        let pic = read(&to_svg(&dag, Some(&f), &dag.longest_path()));
        check_acyclic(&dag, &pic);
    }
}
