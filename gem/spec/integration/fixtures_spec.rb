# frozen_string_literal: true

RSpec.describe "Running the fixture workflows" do
  let(:engine) { start_engine }

  # The template's parents per step, from the registered template.
  def parents_of(engine, name)
    info = engine.templates.find { |t| t["name"] == name }
    info["steps"].to_h { |s| [s["name"], s["depends_on"]] }
  end

  %w[linear diamond tree wide mixed].each do |name|
    it "runs #{name} to complete, never starting a step before all its parents completed" do
      ids = Array.new(5) { engine.submit_task(name, {}, namespace: "fixtures") }
      ids.each do |id|
        result = engine.wait_for_task(id, timeout: 10)
        expect(result.status).to eq(:complete)
        expect(result.steps.map(&:status)).to all(eq("complete"))
      end
      parents = parents_of(engine, name)
      ids.each do |id|
        runs = Fixtures::Recorder.runs(id).to_h { |r| [r.step_name, r] }
        expect(runs.keys).to match_array(parents.keys)
        runs.each do |step, run|
          parents[step].each do |parent|
            expect(runs[parent].finished_at).to be <= run.started_at,
                                                "#{step} started before its parent #{parent} finished"
          end
        end
        result = engine.task_result(id)
        result.steps.each do |s|
          expect(s.results["parents"]).to eq(parents[s.name].sort)
        end
      end
    end
  end

  it "runs a generated 1,000-step workflow to complete" do
    engine.register_template(Fixtures::GeneratedTemplates.layered(steps: 1000, handler: "Fixtures::RecordingHandler"),
                             source: "generated_1000")
    id = engine.submit_task("generated_1000", {})
    expect(engine.wait_for_task(id, timeout: 30).status).to eq(:complete)
    parents = parents_of(engine, "generated_1000")
    runs = Fixtures::Recorder.runs(id).to_h { |r| [r.step_name, r] }
    expect(runs.size).to eq(1000)
    violations = runs.count { |step, run| parents[step].any? { |p| runs[p].finished_at > run.started_at } }
    expect(violations).to eq(0)
  end

  it "runs the order-fulfilment example: the card is charged on the second attempt" do
    id = engine.submit_task("fulfil_order", { "order_id" => 11, "items" => [{ "sku" => "A-1", "quantity" => 3 }] })
    result = engine.wait_for_task(id, timeout: 10)
    expect(result).to be_complete
    expect(result.step(:charge_card).attempts).to eq(1)
    expect(result.step(:charge_card).error).to include("payment gateway busy")
    expect(result.results["ship"]).to eq("tracking" => "T-R-11-C-11")
    expect(result.results["charge_card"]).to include("amount_cents" => 3000)
  end

  it "hands each handler its context, handler_config and parents' results" do
    seen = Queue.new
    recorder = Class.new(TaskerCore::BaseStepHandler) do
      define_method(:process) do |context|
        seen << [context.step_name, context.task_context, context.handler_config, context.parent_results,
                 context.attempt, context.task_name, context.namespace, context.version]
        { "from" => context.step_name }
      end
    end
    stub_const("ContextProbe", recorder)
    engine.register_template(<<~YAML, source: "probe.yaml")
      name: probe
      step_templates:
        - { name: a, handler_class: ContextProbe, handler_config: { url: "http://x", timeout_seconds: 3 } }
        - { name: b, handler_class: ContextProbe, depends_on_step: a }
    YAML
    id = engine.submit_task("probe", { "order" => { "id" => 5 }, sym: :value })
    expect(engine.wait_for_task(id, timeout: 5)).to be_complete
    a = seen.pop
    b = seen.pop
    expect(a).to eq(["a", { "order" => { "id" => 5 }, "sym" => "value" }, { "url" => "http://x", "timeout_seconds" => 3 },
                     {}, 1, "probe", "default", "0.1.0"])
    expect(b[2]).to eq({})
    expect(b[3]).to eq("a" => { "from" => "a" })
  end
end
