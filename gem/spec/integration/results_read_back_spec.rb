# frozen_string_literal: true

# Issue 15: the engine that finished a task answers its result from memory. What it answers
# must be what the store holds — the same a later process reads — and a manual operation
# must not leave an old answer behind.
RSpec.describe "Reading results back" do
  let(:engine) { start_engine(templates: nil, workers: 2) }

  before do
    engine.register_template(<<~YAML, source: "read_back.yaml")
      name: read_back
      step_templates:
        - { name: first, handler_class: Fixtures::RecordingHandler }
        - { name: second, handler_class: Fixtures::RecordingHandler, depends_on_step: first }
    YAML
  end

  # What a result says, as plain values.
  def summary(result)
    [result.task_id, result.state, result.steps.map { |s| [s.step_id, s.name, s.status, s.attempts, s.results, s.error] }]
  end

  it "answers from memory what another engine on the same database reads from the store" do
    ids = Array.new(20) { |i| engine.submit_task("read_back", { "i" => i }) }
    kept = ids.map { |id| summary(engine.wait_for_task(id, timeout: 10)) }
    expect(kept.map { |k| k[1] }).to all(eq("complete"))
    expect(ids.map { |id| engine.task_state(id) }).to all(eq("complete"))

    if SpecStore::KIND == "memory"
      skip "memory: has no store another engine could read"
    else
      url = engine.database_url
      engine.close
      reader = start_engine(templates: nil, workers: 0, database_url: url)
      stored = ids.map { |id| summary(reader.task_result(id)) }
      expect(stored).to eq(kept)
    end
  end

  it "drops what it kept when a manual operation changes the task" do
    id = engine.submit_task("read_back", { "i" => 1 })
    expect(engine.wait_for_task(id, timeout: 10)).to be_complete
    engine.task(id).cancel!(reason: "spec")
    expect(engine.task_state(id)).to eq("cancelled")
    expect(engine.task_result(id).state).to eq("cancelled")
    expect(engine.wait_for_task(id, timeout: 10).state).to eq("cancelled")
  end
end
