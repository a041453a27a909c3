# frozen_string_literal: true

RSpec.describe "Manual operations" do
  let(:engine) { start_engine(templates: nil, backoff_scale: 0.001) }

  before do
    ToggleHandler.broken = false
    engine.register_template(<<~YAML, source: "manual.yaml")
      name: manual
      step_templates:
        - { name: first, handler_class: ToggleHandler, default_retry_limit: 1 }
        - { name: second, handler_class: ToggleHandler, depends_on_step: first }
    YAML
  end

  def failed_task
    ToggleHandler.broken = true
    id = engine.submit_task("manual", {})
    expect(engine.wait_for_task(id, timeout: 10)).to be_error
    ToggleHandler.broken = false
    engine.task(id)
  end

  def complete_task
    id = engine.submit_task("manual", {})
    expect(engine.wait_for_task(id, timeout: 10)).to be_complete
    engine.task(id)
  end

  def wait_for_state(task, state)
    engine.wait_for_task(task.task_id, timeout: 10)
    expect(task.reload.current_state).to eq(state)
    task.reload
  end

  def manual_transition(subject)
    subject.state_transitions.reverse.find { |t| t.metadata["actor"] == "api" }
  end

  describe "Step#reset_for_retry!" do
    it "moves a failed step to pending with attempts at 0 and a new limit; the task resumes" do
      step = failed_task.steps.find_by(name: "first")
      expect(step.attempts).to eq(1)
      after = step.reset_for_retry!(new_retry_limit: 4, reason: "downstream fixed")
      expect(after.retry_limit).to eq(4)
      t = manual_transition(after)
      expect([t.from_state, t.to_state, t.reason, t.metadata["operation"]])
        .to eq(["error", "pending", "downstream fixed", "reset_for_retry"])
      expect(t.metadata["requested_at"]).to match(/\A\d{4}-\d\d-\d\dT/)
      task = wait_for_state(step.task, "complete")
      expect(task.steps.find_by(name: "first").attempts).to eq(0)
    end

    it "refuses a step that is not in error, naming the states" do
      step = complete_task.steps.find_by(name: "first")
      expect { step.reset_for_retry! }
        .to raise_error(TaskerCore::StateTransitionError,
                        /step #{step.step_id} \(first\) of task \d+ cannot move from complete to pending; allowed from complete: none/)
    end

    it "refuses a stale view and writes nothing" do
      task = failed_task
      seen_twice = [task.steps.find_by(name: "first"), task.reload.steps.find_by(name: "first")]
      seen_twice.first.reset_for_retry!
      history = task.reload.steps.find_by(name: "first").state_transitions.size
      expect { seen_twice.last.reset_for_retry! }.to raise_error(TaskerCore::ConcurrentModificationError)
      expect(TaskerCore::ConcurrentModificationError.ancestors).to include(TaskerCore::StateTransitionError)
      expect(task.reload.steps.find_by(name: "first").state_transitions.size).to be >= history
    end
  end

  describe "Step#mark_pending!" do
    it "moves a failed step back to pending keeping its attempts" do
      step = failed_task.steps.find_by(name: "first")
      after = step.mark_pending!(reason: "try once more")
      expect(manual_transition(after).to_state).to eq("pending")
      expect(after.attempts).to eq(1)
    end

    it "refuses a step that is not in error" do
      step = complete_task.steps.find_by(name: "second")
      expect { step.mark_pending! }.to raise_error(TaskerCore::StateTransitionError, /cannot move from complete to pending/)
    end

    it "refuses a stale view" do
      task = failed_task
      stale = task.steps.find_by(name: "first")
      task.reload.steps.find_by(name: "first").mark_pending! # another reader's copy
      expect { stale.mark_pending! }.to raise_error(TaskerCore::ConcurrentModificationError)
    end
  end

  describe "Step#update_results!" do
    it "replaces a finished step's results and records the edit as a same-state transition" do
      step = complete_task.steps.find_by(name: "second")
      before = step.state_transitions.size
      after = step.update_results!({ "corrected" => true }, reason: "fix typo")
      expect(after.results).to eq("corrected" => true)
      expect(after.current_state).to eq("complete")
      expect(after.state_transitions.size).to eq(before + 1)
      t = after.state_transitions.last
      expect([t.from_state, t.to_state, t.reason, t.metadata["operation"], t.metadata["actor"]])
        .to eq(["complete", "complete", "fix typo", "update_results", "api"])
      expect(after.state_transitions.count(&:most_recent?)).to eq(1)
      expect(after.state_transitions.map(&:sort_key)).to eq((1..before + 1).to_a)
    end

    it "amends a failed step's results too" do
      step = failed_task.steps.find_by(name: "first")
      after = step.update_results!({ "note" => "vendor outage" })
      expect([after.current_state, after.results]).to eq(["error", { "note" => "vendor outage" }])
    end

    it "refuses a step that has not run, naming the states it needs, and writes nothing" do
      step = failed_task.steps.find_by(name: "second")
      expect { step.update_results!({ "x" => 1 }) }
        .to raise_error(TaskerCore::StateTransitionError,
                        /step #{step.step_id} \(second\) of task \d+ is pending: update_results needs it in one of complete, error, resolved_manually/)
      expect(step.reload.state_transitions.size).to eq(step.state_transitions.size)
      expect(step.reload.results).to be_nil
    end

    it "refuses while a worker runs the step" do
      gate = Queue.new
      stub_const("HeldHandler", Class.new(TaskerCore::BaseStepHandler) { define_method(:process) { |_c| gate.pop } })
      engine.register_template("name: held\nstep_templates:\n  - { name: only, handler_class: HeldHandler }\n")
      id = engine.submit_task("held", {})
      # In progress once the worker has taken it (its in_progress row is then stored).
      step = nil
      until step&.in_progress?
        sleep 0.01
        engine.flush
        step = engine.task(id)&.steps&.find_by(name: "only")
      end
      expect { step.update_results!({ "x" => 1 }) }
        .to raise_error(TaskerCore::StateTransitionError, /is in_progress and handed to a worker/)
      gate << "done"
      expect(engine.wait_for_task(id, timeout: 5)).to be_complete
    end

    it "refuses the second of two edits made from the same view: no last-writer-wins" do
      task = complete_task
      first_view = task.steps.find_by(name: "second")
      second_view = task.reload.steps.find_by(name: "second")
      first_view.update_results!({ "by" => "first" })
      expect { second_view.update_results!({ "by" => "second" }) }
        .to raise_error(TaskerCore::ConcurrentModificationError, /was changed by someone else/)
      expect(second_view.reload.results).to eq("by" => "first")
    end

    it "lets exactly one of many threads editing the same view win" do
      task = complete_task
      views = Array.new(4) { task.reload.steps.find_by(name: "second") }
      outcomes = views.each_with_index.map do |view, i|
        Thread.new do
          view.update_results!({ "by" => i })
          :written
        rescue TaskerCore::ConcurrentModificationError
          :refused
        end
      end.map(&:value)
      expect(outcomes.count(:written)).to eq(1)
      expect(outcomes.count(:refused)).to eq(3)
      winner = outcomes.index(:written)
      expect(task.reload.steps.find_by(name: "second").results).to eq("by" => winner)
    end
  end

  describe "Step#mark_completed!" do
    it "resolves a failed step by hand with results; its children run and the task completes" do
      step = failed_task.steps.find_by(name: "first")
      after = step.mark_completed!({ "by_hand" => true }, reason: "done offline")
      expect(after.current_state).to eq("resolved_manually")
      task = wait_for_state(after.task, "complete")
      expect(task.steps.find_by(name: "second").current_state).to eq("complete")
    end

    it "refuses a step that is already complete" do
      step = complete_task.steps.find_by(name: "first")
      expect { step.mark_completed!({}) }
        .to raise_error(TaskerCore::StateTransitionError, /cannot move from complete to resolved_manually; allowed from complete: none/)
    end

    it "refuses a stale view" do
      task = failed_task
      stale = task.steps.find_by(name: "first")
      task.reload.steps.find_by(name: "first").mark_pending! # another reader's copy
      expect { stale.mark_completed!({}) }.to raise_error(TaskerCore::ConcurrentModificationError)
    end
  end

  describe "Task#cancel!" do
    it "cancels a task that has not finished, and its unfinished steps" do
      id = engine.create_task("manual", {})
      engine.flush
      task = engine.task(id).cancel!(reason: "customer withdrew")
      expect(task.current_state).to eq("cancelled")
      expect(task.steps.map(&:current_state)).to all(eq("cancelled"))
      expect(manual_transition(task).reason).to eq("customer withdrew")
    end

    it "refuses a task in error" do
      task = failed_task
      expect { task.cancel! }
        .to raise_error(TaskerCore::StateTransitionError,
                        /task #{task.task_id} cannot move from error to cancelled; allowed from error: pending, resolved_manually/)
    end

    it "refuses a stale view" do
      task = complete_task
      task.reload.cancel! # another reader's copy
      expect { task.cancel! }.to raise_error(TaskerCore::ConcurrentModificationError)
    end

    it "brings the object it was called on up to date, as ActiveRecord's update! does" do
      task = failed_task
      step = task.steps.find_by(name: "first")
      step.update_results!({ "fixed" => true })
      expect(step.results).to eq("fixed" => true)
      step.mark_pending! # no reload needed between operations
      # (Pending again, the step may already be running: its own transition says what
      # mark_pending! did.)
      expect(step.state_transitions.map { |t| [t.context["operation"], t.to_state] })
        .to include(["update_results", "error"], ["mark_pending", "pending"])
    end
  end

  describe "Task#retry!" do
    it "moves a failed task back to pending and runs its failed steps again" do
      task = failed_task
      after = task.retry!(reason: "fixed")
      expect(after.state_history.map(&:state)).to include("pending")
      done = wait_for_state(after, "complete")
      expect(done.steps.map(&:current_state)).to all(eq("complete"))
    end

    it "refuses a task that completed" do
      task = complete_task
      expect { task.retry! }.to raise_error(TaskerCore::StateTransitionError, /cannot move from complete to pending/)
    end

    it "refuses a stale view" do
      task = failed_task
      task.reload.retry! # another reader's copy
      expect { task.retry! }.to raise_error(TaskerCore::ConcurrentModificationError)
    end
  end

  describe "Task#resolve_manually!" do
    it "resolves a failed task by hand" do
      task = failed_task.resolve_manually!(reason: "refunded instead")
      expect(task.current_state).to eq("resolved_manually")
      expect(engine.wait_for_task(task.task_id, timeout: 1).state).to eq("resolved_manually")
    end

    it "refuses a task that completed" do
      expect { complete_task.resolve_manually! }
        .to raise_error(TaskerCore::StateTransitionError, /cannot move from complete to resolved_manually; allowed from complete: cancelled/)
    end

    it "refuses a stale view" do
      task = failed_task
      task.reload.resolve_manually!
      expect { task.resolve_manually! }.to raise_error(TaskerCore::ConcurrentModificationError)
    end
  end

  it "never rewrites history: every operation appends" do
    task = failed_task
    before = task.state_transitions.map { |t| [t.sort_key, t.to_state] }
    after = task.retry!
    expect(after.state_transitions.map { |t| [t.sort_key, t.to_state] }.first(before.size)).to eq(before)
  end
end
