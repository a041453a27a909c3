# frozen_string_literal: true

RSpec.describe TaskerCore::WorkflowCoordinator do
  let(:engine) { start_engine(workers: 2) }
  let(:coordinator) { described_class.new(engine) }

  it "drives a created task to complete with its own step callback, off the worker pool" do
    id = engine.create_task("diamond", {}, namespace: "fixtures")
    threads = Queue.new
    result = coordinator.execute_task_workflow(id) do |config|
      config.on_step_execute = lambda do |step|
        threads << Thread.current.name
        { "ran" => step.name, "attempt" => step.attempt, "parents" => step.context.parent_results.keys.sort }
      end
      config.max_parallel_steps = 2
    end
    expect(result).to be_a(TaskerCore::TaskResult)
    expect(result).to be_complete
    expect(result.results["join"]).to eq("ran" => "join", "attempt" => 1, "parents" => %w[left right])
    names = Array.new(threads.size) { threads.pop }
    expect(names).to all(start_with("tasker-coordinator-"))
  end

  it "runs template handlers when no callback is given, with retries" do
    id = engine.create_task("fulfil_order", { "order_id" => 99, "items" => [{ "sku" => "Z", "quantity" => 1 }] },
                            namespace: "shop")
    result = coordinator.execute_task_workflow(id)
    expect(result).to be_complete
    expect(result.step(:charge_card).attempts).to eq(1)
  end

  it "returns :reenqueue when the timeout comes first, and resumes on the next call" do
    gate = Queue.new
    id = engine.create_task("linear", {}, namespace: "fixtures")
    first = coordinator.execute_task_workflow(id) do |config|
      config.on_step_execute = ->(step) { gate.pop if step.name == "step_2"; "ok" }
      config.timeout = 0.2
    end
    expect(first).to be_reenqueue
    gate << :go
    second = coordinator.execute_task_workflow(id) { |c| c.on_step_execute = ->(_s) { "ok" } }
    expect(second).to be_complete
  end

  it "refuses a task that is already running" do
    id = engine.submit_task("diamond", {}, namespace: "fixtures")
    expect { coordinator.execute_task_workflow(id) }
      .to raise_error(TaskerCore::StateTransitionError, /task #{id} cannot move from in_progress to in_progress|is not a live task/)
  end

  it "rejects a bad max_parallel_steps" do
    id = engine.create_task("diamond", {}, namespace: "fixtures")
    expect { coordinator.execute_task_workflow(id) { |c| c.max_parallel_steps = 0 } }
      .to raise_error(TaskerCore::ValidationError, /max_parallel_steps/)
  end
end
