# frozen_string_literal: true

RSpec.describe TaskerCore::Task do
  let(:engine) { start_engine(templates: nil, backoff_scale: 0.001) }

  before do
    TaskerCore.instance_variable_set(:@engine, engine)
    engine.register_template(<<~YAML, source: "inspect.yaml")
      name: inspect_me
      step_templates:
        - { name: fetch, handler_class: Fixtures::FlakyHandler, default_retry_limit: 4 }
        - { name: store, handler_class: Fixtures::RecordingHandler, depends_on_step: fetch }
    YAML
  end

  after { TaskerCore.instance_variable_set(:@engine, nil) }

  it "tells a task's history in order: its finish after the step whose commit it shares" do
    require "tasker_core/task_history"
    id = engine.submit_task("inspect_me", { "fail_times" => 0 })
    engine.wait_for_task(id, timeout: 10)
    entries = TaskerCore::TaskHistory.new(described_class.find(id)).entries
    expect(entries.map { |e| [e.subject, e.to_state] }.values_at(0, -2, -1))
      .to eq([%w[task in_progress], ["step store", "complete"], %w[task complete]])
  end

  it "shows a finished task's state, history, steps and attempts" do
    id = engine.submit_task("inspect_me", { "fail_times" => 2 }, initiator: "spec", reason: "inspection")
    engine.wait_for_task(id, timeout: 10)
    task = described_class.find(id)
    expect(task.current_state).to eq("complete")
    expect(task).to be_complete
    expect(task.state_history.map(&:state)).to eq(%w[in_progress complete])
    expect(task.state_transitions.map(&:reason)).to eq(%w[start all_steps_complete])
    expect(task.state_transitions.last).to be_most_recent
    expect([task.initiator, task.reason]).to eq(%w[spec inspection])
    expect(task.created_at).to be_a(Time).and(be <= task.updated_at)

    fetch = task.steps.find_by(name: "fetch")
    expect(fetch.current_state).to eq("complete")
    expect(fetch.attempts).to eq(2)
    expect(fetch.retry_limit).to eq(4)
    expect(fetch.results).to eq("succeeded_on_attempt" => 3)
    expect(fetch.last_failure_at).to be_a(Time)
    expect(fetch.state_history.map(&:state)).to eq(%w[in_progress error pending in_progress error pending in_progress complete])
    expect(fetch.state_transitions.map(&:sort_key)).to eq((1..8).to_a)
    attempts = fetch.execution_attempts
    expect(attempts.map(&:attempt_number)).to eq([1, 2, 3])
    expect(attempts.map(&:status)).to eq(%w[error error complete])
    expect(attempts.first).to be_failed
    expect(attempts.first.error_message).to include("flaky failure on attempt 1")
    expect(attempts.last).to be_completed
    expect(attempts.last.output).to eq("succeeded_on_attempt" => 3)
    expect(attempts).to all(satisfy { |a| a.duration_ms.is_a?(Float) })

    store = task.steps.find_by(name: "store")
    expect(store.dependencies_satisfied?).to be(true)
    expect(store.parents.map(&:name)).to eq(["fetch"])
  end

  it "is what engine.task returns, and raises for an unknown id" do
    id = engine.submit_task("inspect_me", {})
    engine.wait_for_task(id, timeout: 10)
    expect(engine.task(id).task_id).to eq(id)
    expect { described_class.find(987_654) }.to raise_error(TaskerCore::ValidationError, /task 987654/)
  end
end
