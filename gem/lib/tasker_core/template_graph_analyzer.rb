# frozen_string_literal: true

module TaskerCore
  # The shape of a workflow: cycles, roots, leaves, levels and topology, computed in Rust.
  #
  #   analyzer = task.template_graph_analyzer            # or engine.template_graph("order")
  #   analyzer.analyze[:levels]                           # => [["a"], ["b", "c"], ["d"]]
  #   TemplateGraphAnalyzer.from_file("config/tasker/tasks/order.yaml").to_svg
  #
  # A template file may hold a dependency cycle (registration refuses one; this reports it).
  class TemplateGraphAnalyzer
    # @param path [String] a template YAML file
    # @return [TemplateGraphAnalyzer]
    # @raise [ValidationError] when the file cannot be read or is not a template (a file that
    #   is not UTF-8: naming it and the byte offset of its first bad byte)
    def self.from_file(path)
      path = Inputs.path(path, "template path")
      yaml = begin
        File.binread(path)
      rescue SystemCallError => e
        raise ValidationError, "#{path}: cannot read: #{e.message}"
      end
      from_yaml(yaml, source: path)
    end

    # @param yaml [String] one template (UTF-8, binary holding UTF-8, or another encoding
    #   Ruby can transcode)
    # @param source [String] named in errors
    # @return [TemplateGraphAnalyzer]
    # @raise [ValidationError] when it is not a template, or not UTF-8 text
    def self.from_yaml(yaml, source: "<string>")
      source = Inputs.text(source)
      new(Native::TaskGraph.from_template_yaml(Inputs.template_text(yaml, source), source))
    end

    # @param graph [Native::TaskGraph]
    def initialize(graph)
      @graph = graph
    end

    # @return [Hash] `{cycles:, roots:, leaves:, levels:, longest_path:, topology:}`; cycles
    #   are closed lists of step names (`["a", "b", "a"]`), levels lists of names by depth,
    #   topology one of "single", "linear", "parallel", "fan_out", "fan_in", "diamond",
    #   "dag", "cyclic"
    def analyze = @graph.template_analysis

    # @return [Hash{String => Array<String>}] each step's parents, in template order
    def dependency_graph = @graph.dependency_graph

    # @return [String] a Mermaid flowchart, the longest path marked
    def to_mermaid = @graph.to_mermaid

    # @return [String] a Graphviz digraph, the longest path marked
    def to_dot = @graph.to_dot

    # Drawn and laid out in Rust, so no Graphviz is needed; each step is a
    # `<g class="step" id="step-INDEX" data-step="NAME">` (README, "Graph analysis").
    # @return [String] an SVG document, the longest path marked
    def to_svg = @graph.to_svg
  end
end
