# frozen_string_literal: true

RSpec.describe "Step and task handlers" do
  let(:engine) { start_engine(templates: nil) }

  it "runs a Tasker-style handler written as process(task, sequence, step)" do
    engine.register_template(<<~YAML, source: "legacy.yaml")
      name: legacy
      step_templates:
        - { name: first, handler_class: Fixtures::RecordingHandler }
        - { name: second, handler_class: Fixtures::LegacyStyleHandler, depends_on_step: first }
    YAML
    id = engine.submit_task("legacy", { "order_id" => 12 })
    result = engine.wait_for_task(id, timeout: 5)
    expect(result).to be_complete
    expect(result.results["second"]).to eq("legacy" => true, "order_id" => 12, "parent" => "first",
                                           "parent_results" => { "step" => "first", "parents" => [] })
  end

  it "stores what process_results returns" do
    stub_const("Shaping", Class.new(TaskerCore::BaseStepHandler) do
      def process(_context) = { "raw" => 1 }
      def process_results(context, output, _initial) = output.merge("shaped_by" => context.step_name)
    end)
    engine.register_template("name: s\nstep_templates:\n  - { name: a, handler_class: Shaping }\n")
    result = engine.wait_for_task(engine.submit_task("s", {}), timeout: 5)
    expect(result.results["a"]).to eq("raw" => 1, "shaped_by" => "a")
  end

  it "fails the step permanently when the handler class does not exist" do
    engine.register_template("name: m\nstep_templates:\n  - { name: a, handler_class: No::Such::Handler }\n")
    result = engine.wait_for_task(engine.submit_task("m", {}), timeout: 5)
    expect(result).to be_error
    expect(result.step(:a).error).to include("handler class No::Such::Handler not found")
    expect(result.step(:a).attempts).to eq(1)
  end

  it "fails the step when results are not JSON-compatible, without retrying" do
    stub_const("BadResults", Class.new(TaskerCore::BaseStepHandler) { def process(_c) = { "x" => Object.new } })
    engine.register_template("name: b\nstep_templates:\n  - { name: a, handler_class: BadResults }\n")
    result = engine.wait_for_task(engine.submit_task("b", {}), timeout: 5)
    expect(result).to be_error
    expect(result.step(:a).error).to match(/results of step \d+\.x: cannot convert Object/)
  end

  it "lets a task handler shape the context and react to the outcome" do
    engine.register_templates(File.join(FIXTURES, "templates/patterns/linear.yaml"))
    outcomes = []
    handler = Fixtures::LinearTask.new(engine)
    handler.define_singleton_method(:on_complete) { |r| outcomes << r.status }
    result = handler.execute({ "x" => 1 }, timeout: 5)
    expect(result).to be_complete
    expect(outcomes).to eq([:complete])
    expect(engine.task_hash(result.task_id)["context"]).to eq("x" => 1, "initialized_by" => "Fixtures::LinearTask")
  end

  it "applies a template's environment overrides" do
    env_engine = start_engine(templates: File.join(FIXTURES, "templates/shop"), environment: "test")
    config = env_engine.templates.first["steps"].find { |s| s["name"] == "charge_card" }["handler_config"]
    expect(config).to eq("timeout_seconds" => 10, "gateway" => "http://localhost:9999")
  end
end
