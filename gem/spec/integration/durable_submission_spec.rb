# frozen_string_literal: true

require "open3"
require "rbconfig"

RSpec.describe "Durable submission" do
  let!(:engine) do
    engine_with_template(<<~YAML, source: "durable.yaml")
      name: durable
      schema: { type: object, required: [n] }
      step_templates:
        - { name: only, handler_class: NoSuchHandlerNeeded }
    YAML
  end

  it "returns once the task's creation is committed, so a process killed right after keeps it" do
    url = engine.database_url
    engine.close
    child = File.expand_path("../bin/durable_submit_child.rb", __dir__)
    out, _err, status = Open3.capture3(RbConfig.ruby, child, url, "5")
    expect(status.termsig).to eq(9)
    ids = out.split.map { |id| Integer(id) }
    expect(ids.size).to eq(5)

    reader = start_engine(templates: nil, workers: 0, database_url: url)
    ids.each do |id|
      task = reader.task(id)
      expect(task).not_to be_nil, "task #{id} was acknowledged as durable but is not stored"
      expect(task.current_state).to eq("in_progress")
      expect(task.steps.map(&:name)).to eq(["only"])
    end
  end

  it "accepts a timeout in seconds and refuses anything else, creating nothing" do
    id = engine.submit_task("durable", { "n" => 1 }, durable: 5)
    expect(engine.task(id).current_state).to eq("in_progress")
    before = engine.stats[:tasks_submitted]
    expect { engine.submit_task("durable", { "n" => 2 }, durable: "soon") }
      .to raise_error(TaskerCore::ValidationError, /durable: expected true, false or seconds, got "soon"/)
    expect(engine.stats[:tasks_submitted]).to eq(before)
  end

  it "refuses a bad context before waiting for anything" do
    expect { engine.submit_task("durable", {}, durable: true) }
      .to raise_error(TaskerCore::ValidationError, /does not match the template's schema/)
  end

  it "never holds a durable submission or a flush for the group-commit window" do
    held = engine_with_template(<<~YAML, source: "held.yaml", commit_interval: 30)
      name: held
      step_templates:
        - { name: only, handler_class: Fixtures::RecordingHandler }
    YAML
    # A 30-second window: a submission or flush that waited for it would time out here.
    id = held.submit_task("held", {}, durable: 5)
    expect(held.task(id).current_state).to eq("in_progress")
    held.submit_task("held", {})
    expect { held.flush(timeout: 5) }.not_to raise_error
  ensure
    held&.close
  end

  it "creates a pending task durably for a coordinator" do
    id = engine.create_task("durable", { "n" => 3 }, durable: true)
    expect(engine.task(id).current_state).to eq("pending")
  end
end
