//! Draws template files as SVG, for looking at the layout while working on it:
//! `cargo run -p tasker-graph --example svg -- fixtures/templates/patterns/mixed.yaml > mixed.svg`.
//! The longest path is marked, as `rake tasker:graph` does.

use tasker_graph::{to_svg, Dag};
use tasker_model::TaskTemplate;

fn main() {
    for path in std::env::args().skip(1) {
        let template = TaskTemplate::from_file(std::path::Path::new(&path))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let dag = Dag::from_template(&template).unwrap_or_else(|e| panic!("{path}: {e}"));
        print!("{}", to_svg(&dag, None, &dag.longest_path()));
    }
}
