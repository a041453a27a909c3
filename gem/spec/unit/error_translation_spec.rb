# frozen_string_literal: true

RSpec.describe "Errors crossing from Rust" do
  let(:engine) { start_engine(templates: nil, workers: 0) }

  {
    "validation" => TaskerCore::ValidationError,
    "state_transition" => TaskerCore::StateTransitionError,
    "concurrent_modification" => TaskerCore::ConcurrentModificationError,
    "orchestration" => TaskerCore::OrchestrationError,
    "database" => TaskerCore::DatabaseError,
    "unreadable" => TaskerCore::UnreadableRowError,
    "timeout" => TaskerCore::TimeoutError
  }.each do |kind, klass|
    it "raises a Rust #{kind} error as #{klass}" do
      expect { TaskerCore::Native::Diagnostics.raise_engine_error(kind) }.to raise_error(klass)
      expect(klass.ancestors).to include(TaskerCore::Error)
      expect(klass.ancestors).to include(TaskerCore::DatabaseError) if kind == "unreadable"
    end
  end

  it "raises a Rust panic as TaskerCore::Error and the VM carries on" do
    expect { TaskerCore::Native::Diagnostics.panic_inside("boom") }
      .to raise_error(TaskerCore::Error, /a Rust panic was caught\): boom/)
    expect(engine.stats).to include(:tasks_submitted)
  end

  it "raises the real errors from real calls" do
    engine.register_template("name: t\nstep_templates:\n  - { name: a, handler_class: H }\n")
    id = engine.submit_task("t", {})
    step = engine.next_steps(max: 1, timeout: 60).first
    engine.complete_step(step.step_id, "ok")
    expect { engine.complete_step(step.step_id, "again") }
      .to raise_error(TaskerCore::StateTransitionError, /step #{step.step_id} is not handed out/)
    expect(engine.wait_for_task(id, timeout: 60)).to be_complete

    slow = engine.submit_task("t", {})
    expect { engine.wait_for_task(slow, timeout: 0.05, raise_on_timeout: true) }
      .to raise_error(TaskerCore::TimeoutError, /task #{slow} did not finish within .*; it is in_progress/)

    engine.stop
    expect { engine.submit_task("t", {}) }.to raise_error(TaskerCore::OrchestrationError, /engine is stopped/)
  end
end
