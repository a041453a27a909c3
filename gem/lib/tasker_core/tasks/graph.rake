# frozen_string_literal: true

# rake tasker:graph[path/to/template.yaml]  — a picture of a template's DAG.
#
# Writes NAME.svg (Graphviz `dot` on PATH) or else NAME.mmd (Mermaid text) next to the
# template, or into OUT=dir; prints the path. The longest path is drawn in red, and a
# dependency cycle is drawn rather than refused, so a broken template can be looked at.
namespace :tasker do
  desc "Draw a template's step graph: SVG with Graphviz's dot, else Mermaid text"
  task :graph, [:template_file] do |_task, args|
    require "tasker_core"

    path = args[:template_file] or abort "usage: rake tasker:graph[path/to/template.yaml]"
    analyzer = TaskerCore::TemplateGraphAnalyzer.from_file(path)
    out_dir = ENV.fetch("OUT", File.dirname(path))
    base = File.join(out_dir, File.basename(path, ".*"))
    dot = ENV.fetch("PATH", "").split(File::PATH_SEPARATOR).map { |d| File.join(d, "dot") }
             .find { |f| File.executable?(f) }
    if dot
      target = "#{base}.svg"
      IO.popen([dot, "-Tsvg", "-o", target], "w") { |io| io.write(analyzer.to_dot) }
      abort "tasker:graph: #{dot} failed (exit #{$?.exitstatus})" unless $?.success?
    else
      target = "#{base}.mmd"
      File.write(target, analyzer.to_mermaid)
    end
    puts target
  rescue TaskerCore::Error => e
    abort "tasker:graph: #{e.message}"
  end
end
