# frozen_string_literal: true

# rake tasker:graph[path/to/template.yaml]  — a picture of a template's DAG.
#
# Writes NAME.svg (laid out by tasker-core itself, no Graphviz needed) next to the template,
# or into OUT=dir; prints the path. The longest path is drawn in red, and a
# dependency cycle is drawn rather than refused, so a broken template can be looked at.
namespace :tasker do
  desc "Draw a template's step graph as SVG"
  task :graph, [:template_file] do |_task, args|
    require "tasker_core"

    path = args[:template_file] or abort "usage: rake tasker:graph[path/to/template.yaml]"
    analyzer = TaskerCore::TemplateGraphAnalyzer.from_file(path)
    out_dir = ENV.fetch("OUT", File.dirname(path))
    base = File.join(out_dir, File.basename(path, ".*"))
    target = "#{base}.svg"
    File.write(target, analyzer.to_svg)
    puts target
  rescue TaskerCore::Error => e
    abort "tasker:graph: #{e.message}"
  end
end
