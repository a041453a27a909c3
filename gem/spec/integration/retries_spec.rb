# frozen_string_literal: true

RSpec.describe "Retries" do
  # backoff_scale 0.01 turns the 1 s, 2 s, 4 s ... schedule into 10 ms, 20 ms, 40 ms ...
  let(:engine) { start_engine(templates: nil, backoff_scale: 0.01) }

  def register(handler, retry_limit: 3)
    engine.register_template(<<~YAML, source: "retry.yaml")
      name: retry_test
      step_templates:
        - { name: only, handler_class: #{handler}, default_retry_limit: #{retry_limit} }
    YAML
  end

  it "retries a handler that fails twice with growing backoff, then completes the task" do
    register("Fixtures::FlakyHandler")
    id = engine.submit_task("retry_test", { "fail_times" => 2 })
    result = engine.wait_for_task(id, timeout: 10)
    expect(result).to be_complete
    expect(result.results["only"]).to eq("succeeded_on_attempt" => 3)
    runs = Fixtures::Recorder.runs(id)
    expect(runs.map(&:attempt)).to eq([1, 2, 3])
    first_gap = runs[1].started_at - runs[0].started_at
    second_gap = runs[2].started_at - runs[1].started_at
    # 1 s and 2 s scaled by 0.01, each with ±10 % jitter.
    expect(first_gap).to be >= 0.009
    expect(second_gap).to be >= 0.018
    expect(second_gap).to be > first_gap
    history = engine.task_hash(id)["steps"][0]["transitions"].map { |t| t["to_state"] }
    expect(history).to eq(%w[in_progress error pending in_progress error pending in_progress complete])
  end

  it "ends the task in error after retry_limit attempts of a handler that always fails" do
    register("Fixtures::AlwaysFailsHandler", retry_limit: 3)
    id = engine.submit_task("retry_test", {})
    result = engine.wait_for_task(id, timeout: 10)
    expect(result).to be_error
    expect(result.state).to eq("error")
    expect(Fixtures::Recorder.runs(id).map(&:attempt)).to eq([1, 2, 3])
    step = result.step(:only)
    expect(step.attempts).to eq(3)
    expect(step.error).to include("always fails")
    meta = engine.task_hash(id)["steps"][0]["transitions"].last["metadata"]
    expect(meta).to include("reason" => "retries_exhausted", "error_class" => "ArgumentError", "attempt" => 3)
  end

  it "does not retry a PermanentError" do
    register("Fixtures::PermanentFailureHandler", retry_limit: 5)
    id = engine.submit_task("retry_test", {})
    result = engine.wait_for_task(id, timeout: 10)
    expect(result).to be_error
    expect(Fixtures::Recorder.runs(id).size).to eq(1)
    step = engine.task_hash(id)["steps"][0]
    expect(step["retryable"]).to be(false)
    expect(step["transitions"].last["metadata"]).to include("reason" => "permanent_error",
                                                            "error_class" => "TaskerCore::PermanentError")
  end

  it "honours the delay a handler asks for with RetryableError#retry_after" do
    stub_const("SlowDownHandler", Class.new(TaskerCore::BaseStepHandler) do
      define_method(:process) do |context|
        Fixtures::Recorder.record(Fixtures::Recorder::Run.new(task_id: context.task_id, attempt: context.attempt,
                                                              started_at: Fixtures::Recorder.now))
        raise TaskerCore::RetryableError.new("429", retry_after: 20) if context.attempt == 1

        "ok"
      end
    end)
    register("SlowDownHandler")
    id = engine.submit_task("retry_test", {})
    expect(engine.wait_for_task(id, timeout: 10)).to be_complete
    runs = Fixtures::Recorder.runs(id)
    # 20 s requested, scaled by 0.01: 0.2 s, without jitter.
    expect(runs[1].started_at - runs[0].started_at).to be >= 0.19
    expect(engine.task_hash(id)["steps"][0]["backoff_request_seconds"]).to eq(20)
  end

  it "keeps other branches running when one branch fails for good, then fails the task" do
    engine.register_template(<<~YAML, source: "branches.yaml")
      name: branches
      step_templates:
        - { name: bad, handler_class: Fixtures::PermanentFailureHandler }
        - { name: good, handler_class: Fixtures::RecordingHandler }
        - { name: after_good, handler_class: Fixtures::RecordingHandler, depends_on_step: good }
        - { name: after_bad, handler_class: Fixtures::RecordingHandler, depends_on_step: bad }
    YAML
    id = engine.submit_task("branches", {})
    result = engine.wait_for_task(id, timeout: 10)
    expect(result).to be_error
    expect(result.steps.to_h { |s| [s.name, s.status] })
      .to eq("bad" => "error", "good" => "complete", "after_good" => "complete", "after_bad" => "pending")
  end
end
