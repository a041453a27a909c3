# frozen_string_literal: true

# Issue 6, dependency-graph analysis. Target (not an assertion): a full runtime analysis of
# a 10,000-step task in ≤ 5 ms, including building the Ruby result.
#
# The task: a layered 10,000-step DAG (200 layers of 50, 1–3 parents each), run on the
# `memory:` store until it stops in error: 5 steps in layer 20 fail for good, so about 90 %
# of the task is complete or held back behind an error — the state in which someone asks
# "why is this stuck". Also a created task of the same template (all pending: the most
# unfinished work to count). The graph is read from the store once (`Task#graph`, timed
# apart); analysis then reuses it, as an analyzer object does.
#
# Baseline, same run: the longest path and per-level widths computed in plain Ruby from
# `task.template_dependency_graph` (a subset of what the Rust analysis returns).
#
#   ruby benches/graph.rb [--json PATH]

require_relative "support/bench_support"

module Bench
  # See the file comment.
  class Graph
    STEPS = 10_000
    ROUNDS = 30
    FAILING = %w[s1000 s1010 s1020 s1030 s1040].freeze

    def run
      engine = TaskerCore::Engine.start(templates: nil, workers: 2, database_url: "memory:", instrument: false)
      yaml = Fixtures::GeneratedTemplates.layered(steps: STEPS, name: "graph_bench")
      FAILING.each do |name|
        yaml = yaml.sub("  - name: #{name}\n    handler_class: Fixtures::NoopHandler",
                        "  - name: #{name}\n    handler_class: Fixtures::PermanentFailureHandler")
      end
      engine.register_template(yaml, source: "graph_bench.yaml")
      stuck = engine.submit_task("graph_bench", {}, namespace: "generated")
      status = engine.wait_for_task(stuck, timeout: 300).status
      raise "the bench task ended #{status}, expected error" unless status == :error

      fresh = engine.create_task("graph_bench", {}, namespace: "generated", durable: true)
      tasks = { "stuck in error" => engine.task(stuck), "created, all pending" => engine.task(fresh) }
      results = tasks.to_h { |label, task| [label, measure(engine, task)] }
      engine.close
      { "steps" => STEPS, "rounds" => ROUNDS, "tasks" => results }
    end

    private

    def measure(engine, task)
      states = task.steps.map(&:current_state).tally
      load = Array.new(ROUNDS) { Bench.time { engine.native.task_graph(task.task_id) } }
      analyzer = task.runtime_graph_analyzer
      analyzer.analyze # warm-up
      analysis = Array.new(ROUNDS) { Bench.time { analyzer.analyze } }
      sample = analyzer.analyze
      template = Array.new(ROUNDS) { Bench.time { task.template_graph_analyzer.analyze } }
      mermaid = Array.new(5) { Bench.time { task.to_mermaid } }
      dot = Array.new(5) { Bench.time { task.to_dot } }
      svg = Array.new(5) { Bench.time { task.to_svg } } # layout included
      dependencies = task.template_dependency_graph
      baseline = Array.new(5) { Bench.time { ruby_longest_path_and_widths(dependencies) } }
      { "states" => states, "load" => Bench.summary(load), "analysis" => Bench.summary(analysis),
        "template_analysis" => Bench.summary(template), "mermaid" => Bench.summary(mermaid),
        "dot" => Bench.summary(dot), "svg" => Bench.summary(svg), "ruby_baseline" => Bench.summary(baseline),
        "longest_path_length" => sample[:critical_paths][:longest_path_length],
        "error_steps" => sample[:error_chains][:total_error_steps],
        "blocked_by_errors" => sample[:error_chains][:chains].sum { |c| c[:blocked_count] } }
    end

    # Longest path (in steps) and width per level, by a topological pass in plain Ruby.
    def ruby_longest_path_and_widths(dependencies)
      level = {}
      dependencies.each_key { |step| level_of(step, dependencies, level) }
      widths = level.values.tally.sort.map(&:last)
      [level.values.max + 1, widths]
    end

    def level_of(step, dependencies, level)
      level[step] ||= begin
        parents = dependencies.fetch(step)
        parents.empty? ? 0 : parents.map { |p| level_of(p, dependencies, level) }.max + 1
      end
    end
  end
end

if $PROGRAM_NAME == __FILE__
  results = Bench::Graph.new.run
  results["tasks"].each do |label, r|
    puts "#{label} (#{r['states']}):"
    %w[load analysis template_analysis mermaid dot svg ruby_baseline].each do |k|
      puts format("  %-18s median %8.3f ms  best %8.3f ms", k, r[k]["median"] * 1e3, r[k]["best"] * 1e3)
    end
    puts "  longest path #{r['longest_path_length']} steps; #{r['error_steps']} steps in error blocking " \
         "#{r['blocked_by_errors']} (counted per error)"
  end
  Bench.write_json(results)
end
