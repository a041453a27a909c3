# frozen_string_literal: true

module TaskerCore
  # What is holding a task back, computed in Rust from its stored steps: critical paths,
  # what could run in parallel, what each failed step blocks, and the bottlenecks.
  #
  #   analysis = task.runtime_graph_analyzer.analyze
  #   analysis[:critical_paths][:longest_path_length]                  # => 4
  #   analysis[:parallelism_opportunities][:current_parallel_opportunities] # => 2
  #   analysis[:error_chains][:total_error_steps]                      # => 1
  #
  # The analyzer works on one reading of the task (taken when it was made); make another
  # (or `task.reload`) to see later progress.
  class RuntimeGraphAnalyzer
    # @param graph [Native::TaskGraph] a task's graph (`Native::Engine#task_graph`)
    def initialize(graph)
      @graph = graph
    end

    # @return [Hash] with
    #   - `:critical_paths`: `longest_path_length` (steps), `longest_path` (names),
    #     `longest_duration_path` and `total_duration_ms` (by recorded run times);
    #   - `:parallelism_opportunities`: `current_parallel_opportunities` (steps ready now),
    #     `ready_steps`, `max_parallelism` (widest level), `width_per_level`;
    #   - `:error_chains`: `total_error_steps` and `chains` (per step in error: `name`, `id`,
    #     `blocked_steps`, `blocked_count` — the unfinished work downstream of it);
    #   - `:bottlenecks`: up to 10 unfinished steps that hold back the most unfinished work
    #     (`name`, `id`, `state`, `downstream_count`), most first.
    def analyze = @graph.runtime_analysis

    # @return [Hash{Integer => Array<Integer>}] step id => parent step ids
    def dependency_graph = @graph.runtime_dependency_graph

    # @param step_id [Integer]
    # @return [Array<String>] names of the step's parents not complete or resolved manually
    def blocking_dependencies(step_id) = @graph.blocking_dependencies(step_id)

    # @param step_id [Integer]
    # @return [Hash] `{steps: [names of every step downstream], count:}`
    def downstream_impact(step_id) = @graph.downstream_impact(step_id)

    # @return [String] a Mermaid flowchart coloured by step state, the critical path marked
    def to_mermaid = @graph.to_mermaid

    # @return [String] a Graphviz digraph coloured by step state, the critical path marked
    def to_dot = @graph.to_dot

    # Laid out in Rust (no Graphviz). Steps are `<g class="step state-STATE">` with
    # `failed` / `critical` classes; a failed step's ancestors and the edges from them into
    # it (every path from the roots to the failure) have class `error-chain`.
    # @return [String] an SVG document coloured by step state, the critical path marked
    def to_svg = @graph.to_svg
  end
end
