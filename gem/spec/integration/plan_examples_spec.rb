# frozen_string_literal: true

require "logger"
require "stringio"
require "active_support"
require "active_support/core_ext/integer/time"

# Issue 20: the Ruby examples of shared/seed/000_1d6a770ed49a6add.txt ("Safe State
# Management API Design", "Phase 1", "Phase 2", "Phase 3") run as written there, so the plan
# and the gem cannot drift apart. Each example's code is the plan's, line for line; what is
# around it makes the names it uses exist (`task`, `step`, `task_id`, `database_url`,
# `new_data`, `Rails.logger`, `ErrorNotifier`, ActiveRecord's URL). Where the plan writes two
# alternatives one after the other ("... # Or ..."), each runs on a task of its own.
RSpec.describe "The plan's own examples" do
  # Phase 1, as written in the plan.
  class MyStepHandler < TaskerCore::BaseStepHandler
    def process(context)
      # Business logic here
      { status: "processed", data: context.input_data }
    end

    def process_results(context, process_output, initial_results = nil)
      # Optional result transformation
      process_output
    end
  end

  # A payment step that fails for good until the spec lets it through.
  class PlanPaymentHandler < TaskerCore::BaseStepHandler
    def process(context)
      raise TaskerCore::PermanentError, "card declined" if context.task_context["decline"]

      { "charged" => true }
    end
  end

  let(:database_url) { @database_url }
  let(:log) { StringIO.new }

  before do
    @database_url = SpecStore.url
    TaskerCore.start(database_url: @database_url, workers: 4, backoff_scale: 0.001, recover: false, instrument: false)
    TaskerCore.engine.register_template(<<~YAML, source: "plan_abc.yaml")
      name: plan_abc
      namespace_name: plan
      step_templates:
        - { name: step_a, handler_class: MyStepHandler }
        - { name: step_b, handler_class: MyStepHandler, depends_on_step: step_a }
        - { name: step_c, handler_class: MyStepHandler, depends_on_steps: [step_a, step_b] }
    YAML
    TaskerCore.engine.register_template(<<~YAML, source: "plan_payment.yaml")
      name: plan_payment
      namespace_name: payments
      step_templates:
        - { name: validate, handler_class: MyStepHandler }
        - { name: payment_processing, handler_class: PlanPaymentHandler, depends_on_step: validate }
        - { name: ship, handler_class: MyStepHandler, depends_on_step: payment_processing }
    YAML
    stub_const("Rails", Module.new.tap { |m| m.define_singleton_method(:logger) { @logger ||= Logger.new(StringIO.new) } })
  end

  after { TaskerCore.stop(timeout: 5) }

  def finished(name, context = {}, namespace:)
    id = TaskerCore.engine.submit_task(name, context, namespace: namespace)
    TaskerCore.engine.wait_for_task(id, timeout: 10)
    id
  end

  def failed_payment = finished("plan_payment", { "decline" => true }, namespace: "payments")

  # The state an operation moved the step to, from its own transition: once a step is
  # pending again the engine runs it at once, so its current state may already be newer.
  def moved_by(step, operation)
    step.state_transitions.reverse.find { |t| t.context["operation"] == operation }&.to_state
  end

  describe "Safe State Management API Design" do
    it "runs the read-only state inspection example" do
      task = TaskerCore::Task.find(failed_payment)
      step = task.steps.find_by(name: "payment_processing")
      # Task state access
      expect(task.current_state).to eq("error")              # "in_progress", "complete", "failed", etc.
      expect(task.state_history.map(&:state)).to eq(%w[in_progress error]) # Array of state transitions with timestamps
      expect(task.created_at).to be_a(Time)                   # When task was created
      expect(task.updated_at).to be_a(Time)                   # Last state change

      # Step state access
      expect(step.current_state).to eq("error")               # Current step state
      expect(step.attempts).to eq(1)                          # Number of attempts made
      expect(step.retry_limit).to eq(3)                       # Maximum retry attempts allowed
      expect(step.last_failure_at).to be_a(Time)              # Timestamp of last failure
      expect(step.results).to be_nil                          # Current step results/output
    end

    it "runs the safe state manipulation example, each call on a step in the state it needs" do
      new_data = { "note" => "corrected" }
      final_results = { "charged" => true, "by" => "support" }
      step = TaskerCore::Task.find(failed_payment).steps.find_by(name: "payment_processing")
      # Reset step for retry (validates current state allows reset)
      step.reset_for_retry!(new_retry_limit: 10)
      expect([moved_by(step, "reset_for_retry"), step.retry_limit]).to eq(["pending", 10])

      step = TaskerCore::Task.find(failed_payment).steps.find_by(name: "payment_processing")
      # Update step results (validates step is in appropriate state)
      step.update_results!(new_data)
      # Mark step back to pending (validates preconditions)
      step.mark_pending!
      expect([moved_by(step, "update_results"), moved_by(step, "mark_pending"), step.results])
        .to eq(["error", "pending", new_data])

      step = TaskerCore::Task.find(failed_payment).steps.find_by(name: "payment_processing")
      # Mark step as manually completed (with validation)
      step.mark_completed!(final_results)
      expect([step.current_state, step.results]).to eq(["resolved_manually", final_results])
    end

    it "runs the template and runtime dependency graph example" do
      task = TaskerCore::Task.find(finished("plan_abc", { "n" => 1 }, namespace: "plan"))
      out = StringIO.new
      $stdout = out
      # Template-level analysis (similar to Rails TemplateGraphAnalyzer)
      template_analyzer = task.template_graph_analyzer
      analysis = template_analyzer.analyze

      puts "Has cycles: #{analysis[:cycles].any?}"
      puts "Root steps: #{analysis[:roots]}"
      puts "Execution levels: #{analysis[:levels]}"
      puts "Topology: #{analysis[:topology]}"

      # Template dependency map
      expect(task.template_dependency_graph)
        .to eq({ "step_a" => [], "step_b" => ["step_a"], "step_c" => ["step_a", "step_b"] })

      # Runtime analysis (similar to Rails RuntimeGraphAnalyzer)
      runtime_analyzer = task.runtime_graph_analyzer
      runtime_analysis = runtime_analyzer.analyze

      # Critical paths and bottlenecks
      puts "Longest path: #{runtime_analysis[:critical_paths][:longest_path_length]} steps"
      puts "Parallelism opportunities: #{runtime_analysis[:parallelism_opportunities][:current_parallel_opportunities]}"
      puts "Error chains: #{runtime_analysis[:error_chains][:total_error_steps]}"

      # Runtime dependency graph with actual step IDs
      ids = task.steps.to_h { |s| [s.name, s.step_id] }
      expect(task.runtime_dependency_graph)
        .to eq({ ids["step_a"] => [], ids["step_b"] => [ids["step_a"]], ids["step_c"] => [ids["step_a"], ids["step_b"]] })

      # Individual step dependency checking
      step = task.steps.find_by(name: "step_c")
      expect(step.dependencies_satisfied?).to be(true)   # Boolean check
      expect(step.blocking_dependencies).to eq([])       # Array of unsatisfied dependencies
      expect(task.steps.find_by(name: "step_a").downstream_impact).not_to be_empty # Steps that depend on this one
    ensure
      $stdout = STDOUT
      expect(out.string).to include("Has cycles: false", "Root steps: [\"step_a\"]", "Topology: ",
                                    "Longest path: 3 steps", "Parallelism opportunities: 0", "Error chains: 0")
    end

    it "runs the audit and history example" do
      task = TaskerCore::Task.find(failed_payment)
      step = task.steps.find_by(name: "payment_processing")
      out = StringIO.new
      $stdout = out
      # Complete state transition history
      task.state_transitions.each do |transition|
        puts "#{transition.from_state} → #{transition.to_state} at #{transition.created_at}"
        puts "  Reason: #{transition.reason}"
        puts "  Context: #{transition.context}"
      end

      # Step execution attempts
      step.execution_attempts.each do |attempt|
        puts "Attempt #{attempt.attempt_number}: #{attempt.status}"
        puts "  Duration: #{attempt.duration_ms}ms"
        puts "  Output: #{attempt.output}" if attempt.completed?
        puts "  Error: #{attempt.error_message}" if attempt.failed?
      end
    ensure
      $stdout = STDOUT
      expect(out.string).to include(" → in_progress at ", "in_progress → error at ", "  Reason: start",
                                    "Attempt 1: error", "  Error: card declined")
    end
  end

  describe "Phase 1" do
    it "runs the plan's step handler through the engine" do
      id = finished("plan_abc", { "order" => 7 }, namespace: "plan")
      expect(TaskerCore.engine.task_result(id).results["step_a"])
        .to eq("status" => "processed", "data" => { "order" => 7 })
    end
  end

  describe "Phase 2" do
    it "runs the event subscription, workflow execution, state and graph examples as written" do
      stub_const("ErrorNotifier", Class.new { def self.alert(context) = (@alerts ||= []) << context; def self.alerts = @alerts || [] })
      task_id = TaskerCore.engine.create_task("plan_abc", { "n" => 2 }, namespace: "plan")
      out = StringIO.new
      $stdout = out

      # Event subscription from Ruby
      subscriber = TaskerCore::EventSubscriber.new do |event|
        case event.name
        when "step.completed"
          Rails.logger.info "Step #{event.context['step_id']} completed"
        when "task.failed"
          ErrorNotifier.alert(event.context)
        end
      end

      publisher = TaskerCore::EventPublisher.new
      publisher.subscribe(subscriber)

      # Workflow execution
      coordinator = TaskerCore::WorkflowCoordinator.new(database_url)
      result = coordinator.execute_task_workflow(task_id) do |config|
        config.on_step_execute = ->(step) { MyStepHandler.new.process(step) }
        config.max_parallel_steps = 10
      end

      # Safe state management operations
      task = TaskerCore::Task.find(task_id)
      puts "Current state: #{task.current_state}"
      puts "State history: #{task.state_history.map(&:state).join(' → ')}"

      # Dependency graph inspection
      puts "Template dependencies:"
      task.template_dependency_graph.each do |step_name, deps|
        puts "  #{step_name} depends on: #{deps.join(', ')}"
      end

      puts "Runtime dependencies (with actual step IDs):"
      task.runtime_dependency_graph.each do |step_id, dep_ids|
        puts "  Step #{step_id} depends on: #{dep_ids.join(', ')}"
      end
      $stdout = STDOUT

      expect(result).to be_complete
      expect(coordinator.engine).to be(TaskerCore.engine) # the URL of the running engine: shared
      expect(publisher).to be(TaskerCore.engine.events)
      expect(out.string).to include("Current state: complete", "State history: in_progress → complete",
                                    "  step_c depends on: step_a, step_b")
      failed = failed_payment
      deadline = monotonic + 5
      sleep 0.01 until ErrorNotifier.alerts.any? || monotonic > deadline
      expect(ErrorNotifier.alerts.map { |c| c["task_id"] }).to include(failed)
    ensure
      $stdout = STDOUT
    end

    it "runs the safe step manipulation example, each alternative on a task of its own" do
      corrected_payment_data = { "card" => "replaced" }
      [:reset, :update_then_pending].each do |alternative|
        task = TaskerCore::Task.find(failed_payment)
        # Safe step manipulation
        step = task.steps.find_by(name: "payment_processing")
        if step.failed?
          if alternative == :reset
            # Reset for retry with increased limit
            step.reset_for_retry!(new_retry_limit: 5)
          else
            # Or mark back to pending with corrected data
            step.update_results!(corrected_payment_data)
            step.mark_pending!
          end
        end
        expect(moved_by(step, alternative == :reset ? "reset_for_retry" : "mark_pending")).to eq("pending")
        expect(step.retry_limit).to eq(5) if alternative == :reset
        expect(step.results).to eq(corrected_payment_data) if alternative == :update_then_pending
      end
    end

    it "starts and owns an engine when given another database's URL" do
      other = SpecStore.postgres? ? SpecStore.isolated_url("plan_other", Dir.mktmpdir) : SpecStore.url
      coordinator = TaskerCore::WorkflowCoordinator.new(other, templates: nil)
      expect(coordinator.owns_engine?).to be(true)
      coordinator.engine.register_template("name: other_db\nstep_templates:\n  - { name: only, handler_class: MyStepHandler }\n")
      id = coordinator.engine.create_task("other_db", { "x" => 1 })
      expect(coordinator.execute_task_workflow(id)).to be_complete
      coordinator.stop
      expect(coordinator.engine).to be_stopped
      expect(TaskerCore.engine).not_to be_stopped
    end

    it "names the database, password hidden, when a URL cannot be opened" do
      expect { TaskerCore::WorkflowCoordinator.new("postgres://app:s3cret@127.0.0.1:1/nowhere?connect_timeout=1") }
        .to raise_error(TaskerCore::DatabaseError) { |e|
          expect(e.message).to include("app:***@127.0.0.1:1")
          expect(e.message).not_to include("s3cret")
        }
    end

    it "refuses to make a publisher or a coordinator with no engine, saying what to do" do
      TaskerCore.stop(timeout: 5)
      expect { TaskerCore::EventPublisher.new }.to raise_error(TaskerCore::OrchestrationError, /TaskerCore\.start/)
      expect { TaskerCore::WorkflowCoordinator.new }.to raise_error(TaskerCore::OrchestrationError, /TaskerCore\.start/)
    end
  end

  describe "Phase 3" do
    it "runs the analytics, performance analysis and Rails integration examples" do
      finished("plan_payment", {}, namespace: "payments")
      out = StringIO.new
      $stdout = out
      # Analytics access from Ruby
      health = TaskerCore::Insights::SystemHealthCounts.current
      puts "Tasks in progress: #{health.tasks_in_progress}"
      puts "Steps pending: #{health.steps_pending}"
      puts "System load: #{health.system_load_percentage}%"

      # Performance analysis
      slowest_steps = TaskerCore::Insights::SlowestSteps.query do |q|
        q.namespace = "payments"
        q.time_range = 24.hours
        q.limit = 10
      end

      slowest_steps.each do |step|
        puts "#{step.step_name}: avg #{step.avg_duration_ms}ms (#{step.execution_count} runs)"
      end
      $stdout = STDOUT
      expect(out.string).to match(/^Tasks in progress: \d+$/).and match(/^Steps pending: \d+$/)
        .and include("System load: ", "payment_processing: avg ")

      # Rails integration (ActiveRecord's URL stands in as the spec store's URL)
      url = database_url
      stub_const("ActiveRecord::Base", Class.new.tap { |k| k.define_singleton_method(:connection_db_config) { Struct.new(:url).new(url) } })
      stub_const("Tasker::WorkflowCoordinator", Class.new { def execute_task_workflow(task_id) = { "tasker-engine" => task_id } })
      performance_coordinator = Class.new(Tasker::WorkflowCoordinator) do
        def execute_task_workflow(task_id)
          # Delegate to Rust for performance-critical workflows
          if high_performance_needed?(task_id)
            rust_coordinator.execute_task_workflow(task_id)
          else
            super # Use existing Rails implementation
          end
        end

        private

        def high_performance_needed?(task_id) = task_id.positive?

        def rust_coordinator
          @rust_coordinator ||= TaskerCore::WorkflowCoordinator.new(
            ActiveRecord::Base.connection_db_config.url
          )
        end
      end
      id = TaskerCore.engine.create_task("plan_abc", {}, namespace: "plan")
      expect(performance_coordinator.new.execute_task_workflow(id)).to be_complete
      expect(performance_coordinator.new.execute_task_workflow(0)).to eq("tasker-engine" => 0)
    ensure
      $stdout = STDOUT
    end
  end
end
