# frozen_string_literal: true

# The binding's wrapped objects and conversions, exercised in ways that give the GC every
# chance to catch a mistake: run under TASKER_GC_STRESS=1 by bin/test, and with GC.compact
# (which moves objects) between the steps of a workflow.
RSpec.describe "Binding wrappers and conversions" do
  let(:engine) { start_engine(templates: nil, workers: 0, database_url: "memory:") }

  before do
    engine.register_template(<<~YAML, source: "wrappers.yaml")
      name: wrappers
      step_templates:
        - { name: a, handler_class: Fixtures::RecordingHandler, handler_config: { url: "https://example.test", retries: [1, 2] } }
        - { name: b, handler_class: Fixtures::RecordingHandler, depends_on_step: a }
    YAML
  end

  it "round-trips contexts, results and configs through ready steps, and keeps wrappers alive while used" do
    events = Queue.new
    subscriber = engine.subscribe("step.*") { |event| events << [event.name, event.context] }
    id = engine.submit_task("wrappers", { "order" => { "lines" => [{ "sku" => "A", "qty" => 2 }], "at" => Time.utc(2026, 1, 1) } })
    2.times do |i|
      steps = engine.next_steps(max: 4, timeout: 60)
      expect(steps.size).to eq(1)
      step = steps.first
      GC.start
      GC.compact if GC.respond_to?(:compact)
      context = TaskerCore::StepContext.new(step, engine.native)
      expect(context.task_context["order"]["lines"].first).to eq("sku" => "A", "qty" => 2)
      expect(context.handler_config).to eq(i.zero? ? { "url" => "https://example.test", "retries" => [1, 2] } : {})
      expect(context.parent_results.keys).to eq(i.zero? ? [] : ["a"])
      engine.complete_step(step.step_id, { "n" => i, "nested" => { "list" => [i, i.to_s, nil, 1.5] } })
    end
    result = engine.wait_for_task(id, timeout: 60)
    expect(result.results["b"]).to eq("n" => 1, "nested" => { "list" => [1, "1", nil, 1.5] })
    got = []
    got << events.pop until got.count { |name, _| name == "step.completed" } == 2
    expect(got.map(&:first)).to include("step.execution_requested", "step.before_handle", "step.completed")
    expect(engine.unsubscribe(subscriber)).to be(true)
    flag = Ractor.make_shareable(TaskerCore::Native::StopFlag.new)
    expect(flag.raised?).to be(false)
    flag.raise!
    expect(flag.raised?).to be(true)
  end

  it "runs a workflow with GC.compact between every two steps" do
    compacting = ->(&run) { run.call.tap { GC.compact if GC.respond_to?(:compact) } }
    engine = start_engine(templates: nil, workers: 2, around_step: compacting)
    engine.register_template(File.read(File.join(FIXTURES, "templates/patterns/mixed.yaml")), source: "mixed.yaml")
    results = Array.new(3) { |i| engine.submit_task("mixed", { "n" => i }, namespace: "fixtures") }
                   .map { |task_id| engine.wait_for_task(task_id, timeout: 30) }
    expect(results).to all(be_complete)
  end
end
