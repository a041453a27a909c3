# frozen_string_literal: true

module Bench
  # The "Dependency-graph analysis (issue 6)" section of docs/benchmarks.md, mixed into
  # {Report}. Reads graph.json (benches/graph.rb); the only constant is issue 6's target.
  # Uses {Report}'s `dur`, `num` and `row`.
  module GraphReport
    GRAPH_ANALYSIS_TARGET_SECONDS = 5e-3
    GRAPH_COMMAND = "ruby benches/graph.rb --json target/bench/graph.json"

    private

    def graph = @graph ||= read_json("graph.json")

    def graph_section
      tasks = graph["tasks"]
      stuck = tasks.fetch("stuck in error")
      <<~MD
        ## Dependency-graph analysis (issue 6)

        A layered #{num(graph['steps'])}-step task (200 levels of 50 steps, 1–3 parents each) on
        `memory:`: once run until it stopped in error (5 steps in level 20 fail for good, so
        most of the task is held back behind them), once created and not started. The graph is
        read from the store once (`Native::Engine#task_graph`, "load"); each analysis reuses
        it, as an analyzer object does. Medians of #{graph['rounds']} calls (pictures: 5).
        The plain-Ruby baseline computes only the longest path and the level widths, from
        `task.template_dependency_graph`. Command (also run by `rake bench`):

        ```
        #{GRAPH_COMMAND}
        ```

        | Side | Measurement | Measured | Target | Met |
        | --- | --- | --- | --- | --- |
        #{row('tasker-core', "`runtime_graph_analyzer.analyze`, #{num(graph['steps'])} steps stuck in error, incl. the Ruby Hash",
              dur(stuck['analysis']['median']), "≤ #{dur(GRAPH_ANALYSIS_TARGET_SECONDS)}",
              stuck['analysis']['median'] <= GRAPH_ANALYSIS_TARGET_SECONDS)}

        | Task | Step states | Load | Runtime analysis | Template analysis | Mermaid | DOT | Plain Ruby (path + widths only) |
        | --- | --- | --- | --- | --- | --- | --- | --- |
        #{tasks.map { |label, r| graph_row(label, r) }.join("\n")}

        The stuck task's analysis lists #{num(stuck['error_steps'])} error chains that block
        #{num(stuck['blocked_by_errors'])} steps in all (a step behind several errors counts once per
        error); its longest path is #{stuck['longest_path_length']} steps. Rust-only numbers (no Ruby
        result) for the same shapes: `cargo bench -p tasker-graph`.
      MD
    end

    def graph_row(label, r)
      states = r["states"].map { |s, n| "#{num(n)} #{s}" }.join(", ")
      cells = %w[load analysis template_analysis mermaid dot ruby_baseline].map { |k| dur(r[k]["median"]) }
      "| #{label} | #{states} | #{cells.join(' | ')} |"
    end
  end
end
