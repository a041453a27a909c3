# frozen_string_literal: true

# Issue 17, item 1: step timeouts. A step's attempt that runs past its timeout fails with
# TaskerCore::TimeoutError (retried by the usual rules), the engine stops waiting for it,
# the worker thread running it is interrupted, and its late result is ignored.
RSpec.describe "Step timeouts" do
  # Handlers of this spec; the module keeps their names out of other spec files' way.
  module StepTimeoutsSpec
    def self.monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)

    # Hangs while it is being built: the handler is made inside the step's watch, so its
    # construction is timed too.
    class HangsInInitialize < TaskerCore::BaseStepHandler
      def initialize(*)
        sleep
      end

      def process(_context) = { "never" => true }
    end

    # Waits (at most `seconds`) until the block is true; fails the spec otherwise.
    def self.wait_until(seconds, what)
      deadline = monotonic + seconds
      until yield
        raise "#{what}: not within #{seconds} s" if monotonic > deadline

        sleep 0.005
      end
    end

    # Sleeps until interrupted (by the pool's watchdog).
    class Hangs < TaskerCore::BaseStepHandler
      def process(_context)
        sleep
      end
    end

    # Swallows every StandardError and goes on waiting, as a careless handler's
    # `rescue => e` does; counts the `ensure` runs (the interrupt must still unwind it).
    class Swallows < TaskerCore::BaseStepHandler
      @ensured = Queue.new

      class << self
        # @return [Queue] one entry per attempt whose ensure ran
        attr_reader :ensured
      end

      def process(_context)
        # Longer than the spec waits for the next task: a worker still held here fails it.
        give_up = StepTimeoutsSpec.monotonic + 30
        begin
          sleep 0.01 while StepTimeoutsSpec.monotonic < give_up
        rescue StandardError
          retry
        ensure
          self.class.ensured << true
        end
        raise TaskerCore::PermanentError, "not interrupted within 30 s"
      end
    end

    # Returns at once.
    class Quick < TaskerCore::BaseStepHandler
      def process(context)
        { "quick" => context.attempt }
      end
    end

    # Run in a Ractor: its first attempt outlives its timeout (cooperatively waiting until
    # the engine has recorded the timeout, read back from the store), then returns a result
    # the engine must ignore; later attempts return at once.
    class RactorLate < TaskerCore::BaseStepHandler
      def process(context)
        return { "attempt" => context.attempt } unless context.attempt == 1

        give_up = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 20
        sleep 0.01 until context.cancelled?
        until context.stored_task["steps"][0]["attempts"].to_i >= 1
          raise "the engine did not time the step out" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > give_up

          sleep 0.01
        end
        { "attempt" => 1, "late" => true }
      end
    end

    # Reports what its context says about its deadline.
    class Deadline < TaskerCore::BaseStepHandler
      def process(context)
        { "deadline" => !context.deadline.nil?, "time_left" => context.time_left,
          "cancelled" => context.cancelled?, "timeout" => context.timeout }
      end
    end
  end

  let(:engine) { start_engine(templates: nil, workers: 1, backoff_scale: 0.001) }

  def register(handler, config: "handler_config: { timeout_seconds: 1 }", retry_limit: 2, name: "timed")
    engine.register_template(<<~YAML, source: "#{name}.yaml")
      name: #{name}
      step_templates:
        - { name: only, handler_class: #{handler}, default_retry_limit: #{retry_limit}, #{config} }
    YAML
  end

  def transitions(id)
    engine.task_hash(id)["steps"][0]["transitions"]
  end

  it "times a hung handler out on every attempt, ends the task in error, and frees the worker" do
    register("StepTimeoutsSpec::Hangs")
    register("StepTimeoutsSpec::Quick", config: "description: no timeout", name: "quick")
    id = engine.submit_task("timed", {})
    result = engine.wait_for_task(id, timeout: 30)
    expect(result).to be_error
    step = engine.task_hash(id)["steps"][0]
    expect(step["attempts"]).to eq(2)
    errors = transitions(id).select { |t| t["to_state"] == "error" }
    expect(errors.map { |t| t["metadata"]["error_class"] }).to eq(%w[TaskerCore::TimeoutError] * 2)
    expect(errors.map { |t| t["metadata"]["attempt"] }).to eq([1, 2])
    expect(errors.last["metadata"]["reason"]).to eq("retries_exhausted")
    expect(transitions(id).map { |t| t["to_state"] }).to eq(%w[in_progress error pending in_progress error])
    # The pool has one thread: a second task completes only if the hung handler let go of it.
    quick = engine.wait_for_task(engine.submit_task("quick", {}), timeout: 30)
    expect(quick).to be_complete
    expect(quick.results["only"]).to eq("quick" => 1)
    expect(engine.pool.threads.size).to eq(1)
  end

  it "times out a handler hung while it is being built, and frees the worker" do
    register("StepTimeoutsSpec::HangsInInitialize", retry_limit: 1)
    register("StepTimeoutsSpec::Quick", config: "description: no timeout", name: "quick")
    id = engine.submit_task("timed", {})
    expect(engine.wait_for_task(id, timeout: 30)).to be_error
    errors = transitions(id).select { |t| t["to_state"] == "error" }
    expect(errors.map { |t| t["metadata"]["error_class"] }).to eq(%w[TaskerCore::TimeoutError])
    # One worker thread: the quick task completes only if the hung construction let go of it.
    expect(engine.wait_for_task(engine.submit_task("quick", {}), timeout: 30)).to be_complete
    expect(engine.pool.threads.size).to eq(1)
  end

  it "interrupts a handler that rescues StandardError and frees the worker, its ensure run" do
    register("StepTimeoutsSpec::Swallows", retry_limit: 1)
    register("StepTimeoutsSpec::Quick", config: "description: no timeout", name: "quick")
    id = engine.submit_task("timed", {})
    expect(engine.wait_for_task(id, timeout: 30)).to be_error
    errors = transitions(id).select { |t| t["to_state"] == "error" }
    expect(errors.map { |t| t["metadata"]["error_class"] }).to eq(%w[TaskerCore::TimeoutError])
    # One thread: the next task runs only once the swallowing handler let go of it.
    expect(engine.wait_for_task(engine.submit_task("quick", {}), timeout: 15)).to be_complete
    expect(StepTimeoutsSpec::Swallows.ensured.size).to eq(1)
    expect(engine.pool.threads.size).to eq(1)
  end

  it "ignores the late result of a timed-out attempt: the retry's result is stored" do
    native = engine.native
    late = Class.new(TaskerCore::BaseStepHandler) do
      define_method(:process) do |context|
        return { "attempt" => context.attempt } unless context.attempt == 1

        begin
          sleep
        rescue Exception # rubocop:disable Lint/RescueException
          # Keep going past the interrupt (only `rescue Exception` can: it is not a
          # StandardError): the engine fails the attempt on its own; then hand back a
          # result it must ignore.
          StepTimeoutsSpec.wait_until(20, "the engine's timeout") { native.stats[:steps_timed_out] >= 1 }
        end
        { "attempt" => 1, "late" => true }
      end
    end
    stub_const("StepTimeoutsSpec::Late", late)
    register("StepTimeoutsSpec::Late", retry_limit: 3)
    id = engine.submit_task("timed", {})
    result = engine.wait_for_task(id, timeout: 30)
    expect(result).to be_complete
    expect(result.results["only"]).to eq("attempt" => 2)
    StepTimeoutsSpec.wait_until(20, "the late report") { engine.stats[:late_reports_ignored] >= 1 }
    engine.flush
    history = transitions(id)
    expect(history.map { |t| t["to_state"] }).to eq(%w[in_progress error pending in_progress complete])
    expect(history[1]["metadata"]).to include("error_class" => "TaskerCore::TimeoutError", "attempt" => 1)
    expect(history.last["metadata"]).to include("attempt" => 2)
    expect(engine.task_hash(id)["steps"][0]["results"]).to eq("attempt" => 2)
  end

  # A manual operation puts a failed step's attempts back to 0, so it runs as attempt 1 again
  # while the timed-out first run's handler may still be going: that handler's late report
  # must be told apart from the new run's (the attempt number is the same) and ignored.
  {
    "Step#reset_for_retry!" => ->(task) { task.steps.find_by(name: "only").reset_for_retry!(reason: "spec") },
    "Task#retry!" => ->(task) { task.retry!(reason: "spec") }
  }.each do |operation, operate|
    it "ignores a timed-out run's late result after #{operation} started the step's attempts over" do
      # One worker thread, which the timed-out first run keeps (it rescues the interrupt), so
      # after the operation the new hand-out waits queued, out but not started, until the
      # late report has come: nothing here depends on how fast the threads run.
      e = start_engine(templates: nil, workers: 1, backoff_scale: 0.001)
      runs = Queue.new
      release_late = Queue.new
      count = 0
      handler = Class.new(TaskerCore::BaseStepHandler) do
        define_method(:process) do |context|
          run = (count += 1)
          runs << [run, context.attempt]
          if run == 1
            begin
              sleep
            rescue Exception # rubocop:disable Lint/RescueException
              # Past the watchdog's interrupt (see the spec above): it reports only once the
              # new run is handed out.
              deadline = StepTimeoutsSpec.monotonic + 20
              sleep 0.005 while release_late.empty? && StepTimeoutsSpec.monotonic < deadline
            end
            return { "run" => 1, "late" => true }
          end
          { "run" => run }
        end
      end
      stub_const("StepTimeoutsSpec::LateAfterReset", handler)
      e.register_template(<<~YAML, source: "late_after_reset.yaml")
        name: late_after_reset
        step_templates:
          - { name: only, handler_class: StepTimeoutsSpec::LateAfterReset, default_retry_limit: 1, timeout_seconds: 2 }
      YAML
      id = e.submit_task("late_after_reset", {})
      expect(e.wait_for_task(id, timeout: 30)).to be_error
      expect(pop_within(runs, 5)).to eq([1, 1])
      operate.call(e.task(id))
      # Handed out again as attempt 1; the late report of the first run comes meanwhile.
      StepTimeoutsSpec.wait_until(30, "the new hand-out queued") { e.stats[:steps_queued] == 1 }
      release_late << true
      expect(pop_within(runs, 20)).to eq([2, 1])
      StepTimeoutsSpec.wait_until(30, "the task's end") { !%w[pending in_progress].include?(e.task(id).current_state) }
      expect(e.task(id).current_state).to eq("complete")
      e.flush
      step = e.task_hash(id)["steps"][0]
      expect(step["results"]).to eq("run" => 2)
      expect(e.stats[:late_reports_ignored]).to eq(1)
      expect(step["transitions"].last["to_state"]).to eq("complete")
    end
  end

  it "applies the engine's step_timeout to steps whose template gives none, and the template's over it" do
    e = start_engine(templates: nil, workers: 1, step_timeout: 0.5)
    e.register_template(<<~YAML, source: "default.yaml")
      name: defaulted
      default_timeout_seconds: 7
      step_templates:
        - { name: only, handler_class: StepTimeoutsSpec::Deadline, timeout_seconds: 5 }
    YAML
    e.register_template(<<~YAML, source: "hung.yaml")
      name: hung
      step_templates:
        - { name: only, handler_class: StepTimeoutsSpec::Hangs, default_retry_limit: 1 }
    YAML
    r = e.wait_for_task(e.submit_task("defaulted", {}), timeout: 30)
    expect(r.results["only"]).to include("deadline" => true, "cancelled" => false, "timeout" => 5.0)
    expect(r.results["only"]["time_left"]).to be_between(0, 5)
    hung = e.wait_for_task(e.submit_task("hung", {}), timeout: 30)
    expect(hung).to be_error
    expect(hung.step(:only).error).to include("timeout of 0.5 s")
  end

  it "gives a step without any timeout no deadline" do
    register("StepTimeoutsSpec::Deadline", config: "description: none")
    r = engine.wait_for_task(engine.submit_task("timed", {}), timeout: 30)
    expect(r.results["only"]).to eq("deadline" => false, "time_left" => nil, "cancelled" => false, "timeout" => nil)
  end

  it "abandons a Ractor whose step overran, starts another in its place, and ignores its late result" do
    e = start_engine(templates: nil, workers: 0, ractors: 1)
    e.register_template(<<~YAML, source: "ractor_timed.yaml")
      name: ractor_timed
      step_templates:
        - { name: only, handler_class: StepTimeoutsSpec::RactorLate, execution: ractor, timeout_seconds: 0.5 }
    YAML
    id = e.submit_task("ractor_timed", {})
    result = e.wait_for_task(id, timeout: 30)
    expect(result).to be_complete
    expect(result.results["only"]).to eq("attempt" => 2)
    StepTimeoutsSpec.wait_until(20, "the abandoned Ractor's end") do
      e.stats[:late_reports_ignored] >= 1 && e.ractor_pool.alive == 1
    end
    expect(e.stats[:ractor_steps_timed_out]).to eq(1)
    errors = e.task_hash(id)["steps"][0]["transitions"].select { |t| t["to_state"] == "error" }
    expect(errors.map { |t| t["metadata"]["error_class"] }).to eq(%w[TaskerCore::TimeoutError])
    # The pool still runs steps at its size.
    again = e.wait_for_task(e.submit_task("ractor_timed", {}), timeout: 30)
    expect(again).to be_complete
  end

  it "refuses bad timeouts, naming the template and the step, and registers nothing" do
    [["timeout_seconds: -1", "timeout_seconds"], ["timeout_seconds: soon", "timeout_seconds"],
     ["handler_config: { timeout_seconds: ten }", "handler_config.timeout_seconds"]].each do |config, key|
      expect { register("StepTimeoutsSpec::Quick", config: config, name: "bad") }
        .to raise_error(TaskerCore::ValidationError, /bad\.yaml \(task bad\), step 'only'.*#{Regexp.escape(key)}/)
    end
    expect(engine.native.template_keys.grep(/bad/)).to be_empty
    expect { start_engine(templates: nil, workers: 0, step_timeout: -1) }
      .to raise_error(TaskerCore::ValidationError, /step_timeout/)
    expect { start_engine(templates: nil, workers: 0, step_timeout: 0) }
      .to raise_error(TaskerCore::ValidationError, /step_timeout/)
  end
end
