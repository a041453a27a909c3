# frozen_string_literal: true

require "open3"
require "rexml/document"
require "tmpdir"

# Issue 6: template and runtime graph analysis, and pictures. Expected values are worked out
# by hand from the fixture templates (fixtures/templates), not read back from the analyzer.
RSpec.describe "Dependency-graph analysis" do
  let(:engine) { start_engine }

  # name => [roots, leaves, levels, longest path, topology, {step => its downstream steps}]
  EXPECTED = {
    "linear" => [%w[step_1], %w[step_4], [%w[step_1], %w[step_2], %w[step_3], %w[step_4]],
                 %w[step_1 step_2 step_3 step_4], "linear",
                 { "step_2" => %w[step_3 step_4], "step_4" => [] }],
    "diamond" => [%w[start], %w[join], [%w[start], %w[left right], %w[join]],
                  %w[start left join], "diamond",
                  { "start" => %w[left right join], "right" => %w[join] }],
    "tree" => [%w[root], %w[leaf_a1 leaf_a2 leaf_b1 leaf_b2],
               [%w[root], %w[branch_a branch_b], %w[leaf_a1 leaf_a2 leaf_b1 leaf_b2]],
               %w[root branch_a leaf_a1], "fan_out",
               { "root" => %w[branch_a branch_b leaf_a1 leaf_a2 leaf_b1 leaf_b2], "branch_b" => %w[leaf_b1 leaf_b2] }],
    "wide" => [%w[split], %w[gather], [%w[split], (1..20).map { |i| format("work_%02d", i) }, %w[gather]],
               %w[split work_01 gather], "diamond",
               { "split" => (1..20).map { |i| format("work_%02d", i) } + %w[gather], "work_07" => %w[gather] }],
    "mixed" => [%w[fetch_a fetch_b], %w[publish audit],
                [%w[fetch_a fetch_b], %w[validate_a transform_b enrich audit], %w[transform_a], %w[merge], %w[publish]],
                %w[fetch_a validate_a transform_a merge publish], "dag",
                { "fetch_a" => %w[validate_a transform_a enrich merge publish audit],
                  "fetch_b" => %w[transform_b enrich merge publish audit], "merge" => %w[publish] }],
    "fulfil_order" => [%w[reserve_stock charge_card], %w[notify], [%w[reserve_stock charge_card], %w[ship], %w[notify]],
                       %w[reserve_stock ship notify], "fan_in",
                       { "charge_card" => %w[ship notify], "ship" => %w[notify] }]
  }.freeze

  # The step groups and edge paths of an SVG picture, read back with an XML parser.
  def svg_parts(svg)
    doc = REXML::Document.new(svg)
    expect(doc.root.name).to eq("svg")
    nodes = []
    doc.root.each_recursive { |e| nodes << e }
    [nodes.select { |e| e.name == "g" && e.attributes["class"].to_s.split.first == "step" },
     nodes.select { |e| e.name == "path" && e.attributes["class"].to_s.split.first == "edge" }]
  end

  def namespace_of(name) = name == "fulfil_order" ? "shop" : "fixtures"

  def context_for(name) = name == "fulfil_order" ? { "order_id" => 1, "items" => [{ "sku" => "A-1", "quantity" => 1 }] } : {}

  EXPECTED.each do |name, (roots, leaves, levels, longest, topology, downstream)|
    it "analyses #{name}: template shape, a finished task's critical path and downstream impact" do
      template = engine.template_graph(name, namespace: namespace_of(name)).analyze
      expect(template).to eq(cycles: [], roots: roots, leaves: leaves, levels: levels,
                             longest_path: longest, topology: topology)

      id = engine.submit_task(name, context_for(name), namespace: namespace_of(name))
      expect(engine.wait_for_task(id, timeout: 20).status).to eq(:complete)
      task = engine.task(id)
      expect(task.template_graph_analyzer.analyze).to eq(template)

      runtime = task.runtime_graph_analyzer.analyze
      expect(runtime[:critical_paths]).to include(longest_path_length: longest.size, longest_path: longest)
      expect(runtime[:parallelism_opportunities]).to include(
        current_parallel_opportunities: 0, ready_steps: [],
        max_parallelism: levels.map(&:size).max, width_per_level: levels.map(&:size)
      )
      expect(runtime[:error_chains]).to eq(total_error_steps: 0, chains: [])
      expect(runtime[:bottlenecks]).to eq([]) # everything finished: nothing holds anything back

      downstream.each do |step_name, below|
        step = task.steps.find_by(name: step_name)
        expect(step.downstream_impact).to eq(steps: below, count: below.size)
        expect(step.dependencies_satisfied?).to be(true)
        expect(step.blocking_dependencies).to eq([])
      end

      by_name = task.steps.to_h { |s| [s.name, s.step_id] }
      expect(task.template_dependency_graph).to eq(engine.templates.find { |t| t["name"] == name }["steps"]
                                                     .to_h { |s| [s["name"], s["depends_on"]] })
      expect(task.runtime_dependency_graph).to eq(
        task.template_dependency_graph.to_h { |step, parents| [by_name[step], parents.map { |p| by_name[p] }] }
      )
    end
  end

  context "a mixed task partway through, with one step in error" do
    before do
      yaml = File.read(File.join(FIXTURES, "templates/patterns/mixed.yaml"))
                 .sub("name: mixed", "name: mixed_failing")
      # transform_b fails for good; merge and publish wait behind it.
      yaml = yaml.sub(/(- name: transform_b\n\s+handler_class: )Fixtures::RecordingHandler/,
                      '\1Fixtures::PermanentFailureHandler')
      engine.register_template(yaml, source: "mixed_failing.yaml")
    end

    it "reports the error chain, the bottlenecks, what is blocked, and nothing ready" do
      id = engine.submit_task("mixed_failing", {}, namespace: "fixtures")
      expect(engine.wait_for_task(id, timeout: 20).status).to eq(:error)
      task = engine.task(id)
      expect(task.steps.map { |s| [s.name, s.current_state] }.to_h).to eq(
        "fetch_a" => "complete", "fetch_b" => "complete", "validate_a" => "complete",
        "transform_a" => "complete", "transform_b" => "error", "enrich" => "complete",
        "merge" => "pending", "publish" => "pending", "audit" => "complete"
      )
      failing = task.steps.find_by(name: "transform_b")
      merge = task.steps.find_by(name: "merge")

      analysis = task.runtime_graph_analyzer.analyze
      expect(analysis[:error_chains]).to eq(
        total_error_steps: 1,
        chains: [{ name: "transform_b", id: failing.step_id, blocked_steps: %w[merge publish], blocked_count: 2 }]
      )
      expect(analysis[:bottlenecks]).to eq(
        [{ name: "transform_b", id: failing.step_id, state: "error", downstream_count: 2 },
         { name: "merge", id: merge.step_id, state: "pending", downstream_count: 1 }]
      )
      expect(analysis[:parallelism_opportunities]).to include(current_parallel_opportunities: 0, ready_steps: [])
      expect(analysis[:critical_paths][:longest_path_length]).to eq(5)
      durations = analysis[:critical_paths]
      expect(durations[:total_duration_ms]).to be > 0
      expect(durations[:longest_duration_path].first).to start_with("fetch_")

      expect(merge.dependencies_satisfied?).to be(false)
      expect(merge.blocking_dependencies.map(&:name)).to eq(%w[transform_b])
      expect(task.runtime_graph_analyzer.blocking_dependencies(merge.step_id)).to eq(%w[transform_b])
      expect(failing.downstream_impact).to eq(steps: %w[merge publish], count: 2)

      dot = task.to_dot
      expect(dot).to include("digraph")
      mermaid = task.to_mermaid
      expect(mermaid).to match(/classDef error /)
      expect(mermaid).to match(/classDef pending /)
    end

    it "draws the task as SVG without Graphviz: each step once, the failed step and the edges into it marked" do
      id = engine.submit_task("mixed_failing", {}, namespace: "fixtures")
      expect(engine.wait_for_task(id, timeout: 20).status).to eq(:error)
      task = engine.task(id)
      steps, edges = svg_parts(task.to_svg)
      classes = steps.to_h { |g| [g.attributes["data-step"], g.attributes["class"].split] }
      expect(classes.keys).to match_array(task.steps.map(&:name))
      expect(classes["transform_b"]).to include("step", "state-error", "failed")
      expect(classes["merge"]).to include("state-pending")
      expect(classes["audit"]).to include("state-complete")
      expect(classes.values.flatten).to include("critical")
      expect(steps.find { |g| g.attributes["data-step"] == "transform_b" }.attributes["data-step-id"])
        .to eq(task.steps.find_by(name: "transform_b").step_id.to_s)

      index = steps.to_h { |g| [g.attributes["id"].delete_prefix("step-").to_i, g.attributes["data-step"]] }
      drawn = edges.map { |e| [index.fetch(e.attributes["data-from"].to_i), index.fetch(e.attributes["data-to"].to_i)] }
      dependencies = task.template_dependency_graph.flat_map { |c, ps| ps.map { |p| [p, c] } }
      expect(drawn).to match_array(dependencies)
      chain = edges.select { |e| e.attributes["class"].split.include?("error-chain") }
      expect(chain.map { |e| index.fetch(e.attributes["data-to"].to_i) }).to eq(%w[transform_b])
      expect(task.runtime_graph_analyzer.to_svg).to eq(task.to_svg)
    end

    it "counts the roots of a created, unstarted task as ready to run in parallel" do
      id = engine.create_task("mixed_failing", {}, namespace: "fixtures", durable: true)
      analysis = engine.task(id).runtime_graph_analyzer.analyze
      expect(analysis[:parallelism_opportunities]).to include(current_parallel_opportunities: 2,
                                                               ready_steps: %w[fetch_a fetch_b])
      # Nothing finished: fetch_a holds back the most (six steps), then fetch_b (five).
      expect(analysis[:bottlenecks].first(2).map { |b| [b[:name], b[:downstream_count]] })
        .to eq([["fetch_a", 6], ["fetch_b", 5]])
    end
  end

  it "reports a cycle in a template file instead of refusing it" do
    analyzer = TaskerCore::TemplateGraphAnalyzer.from_yaml(<<~YAML, source: "cyclic.yaml")
      name: cyclic
      step_templates:
        - { name: start, handler_class: H }
        - { name: a, handler_class: H, depends_on_steps: [start, c] }
        - { name: b, handler_class: H, depends_on_step: a }
        - { name: c, handler_class: H, depends_on_step: b }
    YAML
    analysis = analyzer.analyze
    expect(analysis[:topology]).to eq("cyclic")
    expect(analysis[:cycles]).to eq([%w[a b c a]])
    expect(analysis[:roots]).to eq(%w[start])
    # Registration, unlike analysis, refuses the cycle.
    cyclic = "name: cyclic\nstep_templates:\n - { name: a, handler_class: H, depends_on_step: b }\n" \
             " - { name: b, handler_class: H, depends_on_step: a }\n"
    expect { engine.register_template(cyclic, source: "cyclic.yaml") }
      .to raise_error(TaskerCore::ValidationError, /dependency cycle/)
  end

  it "names the template file it cannot read or parse" do
    expect { TaskerCore::TemplateGraphAnalyzer.from_file("/nonexistent/t.yaml") }
      .to raise_error(TaskerCore::ValidationError, %r{/nonexistent/t\.yaml: cannot read})
    expect { TaskerCore::TemplateGraphAnalyzer.from_yaml("name: x\nstep_templates: []\n", source: "empty.yaml") }
      .to raise_error(TaskerCore::ValidationError, /empty\.yaml/)
    expect { engine.template_graph("no_such_template") }.to raise_error(TaskerCore::ValidationError, /no_such_template/)
  end

  describe "pictures" do
    let(:mixed) { File.join(FIXTURES, "templates/patterns/mixed.yaml") }

    it "draws a Mermaid flowchart: one node per step, one edge per dependency, states as classes" do
      id = engine.submit_task("mixed", {}, namespace: "fixtures")
      engine.wait_for_task(id, timeout: 20)
      text = engine.task(id).to_mermaid
      lines = text.lines.map(&:strip)
      expect(lines.first).to eq("flowchart TD")
      nodes = lines.grep(/\A(s\d+)\["([^"]*)"\]\z/).to_h { |l| l.match(/\A(s\d+)\["([^"]*)"\]\z/).captures }
      expect(nodes.values).to match_array(EXPECTED["mixed"][2].flatten)
      edges = lines.grep(/\As\d+ --> s\d+\z/).map { |l| l.split(" --> ").map { |n| nodes.fetch(n) } }
      dependencies = engine.task(id).template_dependency_graph.flat_map { |c, ps| ps.map { |p| [p, c] } }
      expect(edges).to match_array(dependencies)
      # Every line is a node, an edge, a class definition, a class assignment or a link style.
      expect(lines.drop(1)).to all(match(/\A(s\d+\[".*"\]|s\d+ --> s\d+|classDef \w+ .+|class [s\d,]+ \w+|linkStyle [\d,]+ .+)\z/))
      expect(lines.grep(/\Aclass /).join).to include("complete")
    end

    it "draws a template as SVG: no states, the longest path marked, a cycle drawn" do
      analyzer = TaskerCore::TemplateGraphAnalyzer.from_file(mixed)
      steps, edges = svg_parts(analyzer.to_svg)
      expect(steps.map { |g| g.attributes["data-step"] }).to match_array(EXPECTED["mixed"][2].flatten)
      expect(edges.size).to eq(analyzer.dependency_graph.values.sum(&:size))
      expect(steps.map { |g| g.attributes["class"] }.uniq).to match_array(["step", "step critical"])
      expect(steps.select { |g| g.attributes["class"].include?("critical") }.map { |g| g.attributes["data-step"] })
        .to eq(EXPECTED["mixed"][3])

      cyclic = TaskerCore::TemplateGraphAnalyzer.from_yaml(<<~YAML, source: "cyclic.yaml")
        name: cyclic
        step_templates:
          - { name: a, handler_class: H, depends_on_step: '<c> & "d"' }
          - { name: b, handler_class: H, depends_on_step: a }
          - { name: '<c> & "d"', handler_class: H, depends_on_step: b }
      YAML
      steps, edges = svg_parts(cyclic.to_svg)
      expect(steps.map { |g| g.attributes["data-step"] }).to eq(['a', 'b', '<c> & "d"'])
      expect(edges.map { |e| e.attributes["class"] }).to include("edge back")
      expect(engine.template_graph("mixed", namespace: "fixtures").to_svg).to include('data-step="merge"')
    end

    it "escapes step names Mermaid and DOT would misread" do
      analyzer = TaskerCore::TemplateGraphAnalyzer.from_yaml(<<~YAML, source: "odd.yaml")
        name: odd
        step_templates:
          - { name: 'say "hi"', handler_class: H }
          - { name: 'a -> b; [x]', handler_class: H, depends_on_step: 'say "hi"' }
      YAML
      expect(analyzer.to_mermaid).not_to include('"say "hi""')
      expect(analyzer.to_dot).to include('say \"hi\"')
    end

    it "renders DOT to SVG with Graphviz (when dot is installed)" do
      skip "Graphviz dot is not installed" unless system("which dot > /dev/null 2>&1")

      id = engine.submit_task("mixed", {}, namespace: "fixtures")
      engine.wait_for_task(id, timeout: 20)
      [engine.task(id).to_dot, TaskerCore::TemplateGraphAnalyzer.from_file(mixed).to_dot].each do |dot|
        svg, err, status = Open3.capture3("dot", "-Tsvg", stdin_data: dot)
        expect(status).to be_success, err
        expect(svg).to include("<svg")
        expect(svg).to include("merge")
      end
    end

    it "rake tasker:graph writes an SVG for a template file, with no Graphviz needed" do
      Dir.mktmpdir do |out|
        root = File.expand_path("../../..", __dir__)
        # A PATH holding only Ruby's own directory: no `dot`.
        env = { "OUT" => out, "PATH" => File.dirname(RbConfig.ruby) }
        rake = Gem.bin_path("rake", "rake")
        stdout, err, status = Open3.capture3(env, RbConfig.ruby, rake, "tasker:graph[#{mixed}]", chdir: root)
        expect(status).to be_success, err
        target = stdout.strip
        expect(File.dirname(target)).to eq(out)
        expect(target).to end_with("mixed.svg")
        expect(File.read(target)).to start_with("<svg").and include('data-step="merge"')
        _, err, status = Open3.capture3("rake", "tasker:graph[/nonexistent.yaml]", chdir: root)
        expect(status).not_to be_success
        expect(err).to include("/nonexistent.yaml: cannot read")
      end
    end
  end
end
