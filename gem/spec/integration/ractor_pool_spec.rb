# frozen_string_literal: true

require "logger"
require "rbconfig"
require "stringio"

# Issue 5: handlers that run in Ractors, next to thread handlers.
RSpec.describe "Ractor handlers" do
  def diamond(execution)
    <<~YAML
      name: squares_#{execution}
      step_templates:
        - { name: a, handler_class: RactorSpec::Square, execution: #{execution} }
        - { name: b, handler_class: RactorSpec::Square, execution: #{execution} }
        - { name: c, handler_class: RactorSpec::Square, execution: #{execution} }
        - { name: total, handler_class: RactorSpec::Total, depends_on_steps: [a, b, c], execution: #{execution} }
    YAML
  end

  let(:engine) { start_engine(templates: nil, workers: 2, ractors: 2) }

  it "runs a workflow of Ractor handlers to the same results as on threads" do
    engine.register_template(diamond("ractor"), source: "ractor.yaml")
    engine.register_template(diamond("thread"), source: "thread.yaml")
    on_ractors = engine.wait_for_task(engine.submit_task("squares_ractor", { "n" => 7 }), timeout: 20)
    on_threads = engine.wait_for_task(engine.submit_task("squares_thread", { "n" => 7 }), timeout: 20)
    expect([on_ractors.status, on_threads.status]).to eq(%i[complete complete])
    strip = ->(results) { results.transform_values { |r| r.except("in_ractor") } }
    expect(strip.(on_ractors.results)).to eq(strip.(on_threads.results))
    expect(on_ractors.results.values.map { |r| r["in_ractor"] }).to all(be(true))
    expect(on_threads.results.values.map { |r| r["in_ractor"] }).to all(be(false))
    expect(on_ractors.results["total"]["total"]).to eq(3 * 49)
  end

  it "mixes Ractor and thread handlers in one task, each on its own pool" do
    engine.register_template(<<~YAML, source: "mixed.yaml")
      name: mixed_pools
      execution: ractor
      step_templates:
        - { name: a, handler_class: RactorSpec::Square }
        - { name: b, handler_class: RactorSpec::Square, execution: thread }
        - { name: total, handler_class: RactorSpec::Total, depends_on_steps: [a, b] }
    YAML
    result = engine.wait_for_task(engine.submit_task("mixed_pools", { "n" => 3 }), timeout: 20)
    expect(result).to be_complete
    expect(result.results.transform_values { |r| r["in_ractor"] }).to eq("a" => true, "b" => false, "total" => true)
  end

  it "holds a coordinator's max_parallel_steps across its threads and the Ractor pool" do
    steps = (1..4).flat_map do |i|
      ["  - { name: r#{i}, handler_class: RactorSpec::Nap, execution: ractor }",
       "  - { name: t#{i}, handler_class: RactorSpec::Nap }"]
    end
    engine.register_template("name: capped\nstep_templates:\n#{steps.join("\n")}\n", source: "capped.yaml")
    id = engine.create_task("capped", {})
    most = 0
    sampler = Thread.new { loop { most = [most, engine.stats[:steps_in_flight]].max; sleep 0.002 } }
    result = TaskerCore::WorkflowCoordinator.new(engine).execute_task_workflow(id) do |config|
      config.max_parallel_steps = 2
      config.timeout = 20
    end
    sampler.kill
    expect(result).to be_complete
    expect(most).to eq(2)
    where = result.results.to_h { |name, r| [name, r["in_ractor"]] }
    expect(where.select { |name, _| name.start_with?("r") }.values).to all(be(true))
    expect(where.select { |name, _| name.start_with?("t") }.values).to all(be(false))
  end

  describe "a handler class that declares execution :ractor" do
    it "runs in a Ractor unless its step says otherwise, over the template's default" do
      engine.register_template(<<~YAML, source: "declared.yaml")
        name: declared
        execution: thread
        step_templates:
          - { name: a, handler_class: RactorSpec::DeclaredSquare }
          - { name: b, handler_class: RactorSpec::DeclaredSquare, execution: thread }
          - { name: c, handler_class: RactorSpec::Square }
      YAML
      result = engine.wait_for_task(engine.submit_task("declared", { "n" => 2 }), timeout: 20)
      expect(result).to be_complete
      expect(result.results.transform_values { |r| r["in_ractor"] }).to eq("a" => true, "b" => false, "c" => false)
    end

    it "is checked for Ractor safety at registration like an execution: ractor step" do
      expect do
        engine.register_template(<<~YAML, source: "declared_unsafe.yaml")
          name: declared_unsafe
          step_templates:
            - { name: a, handler_class: RactorSpec::DeclaredButUnsafe }
        YAML
      end.to raise_error(TaskerCore::ValidationError, /RactorSpec::DeclaredButUnsafe cannot run in a Ractor: constant RactorSpec::DeclaredButUnsafe::SEEN/)
      expect(engine.templates.map { |t| t["name"] }).not_to include("declared_unsafe")
    end

    it "refuses anything but :thread or :ractor, naming the class" do
      expect { Class.new(TaskerCore::BaseStepHandler) { def self.name = "Fibers"; execution :fiber } }
        .to raise_error(TaskerCore::ValidationError, /Fibers.execution: must be :thread or :ractor, got :fiber/)
      expect(Class.new(RactorSpec::DeclaredSquare).execution).to eq(:ractor) # inherited
      expect(RactorSpec::Square.execution).to be_nil
    end
  end

  it "retries a Ractor handler that raises under the normal rules" do
    engine.register_template(<<~YAML, source: "flaky.yaml")
      name: flaky_ractor
      step_templates:
        - { name: only, handler_class: RactorSpec::FlakyTwice, execution: ractor, default_retry_limit: 3 }
    YAML
    result = engine.wait_for_task(engine.submit_task("flaky_ractor", {}), timeout: 20)
    expect(result).to be_complete
    expect(result.results["only"]).to eq("attempt" => 3)
    step = engine.task(result.task_id).steps.first
    expect(step.execution_attempts.map(&:status)).to eq(%w[error error complete])
  end

  it "fails a step whose handler breaks Ractor isolation at run time, without retrying or hanging the pool" do
    engine.register_template(<<~YAML, source: "global.yaml")
      name: global_ractor
      step_templates:
        - { name: only, handler_class: RactorSpec::TouchesGlobal, execution: ractor }
    YAML
    result = engine.wait_for_task(engine.submit_task("global_ractor", {}), timeout: 20)
    expect(result).to be_error
    step = engine.task(result.task_id).steps.first
    expect(step.attempts).to eq(1)
    expect(step.execution_attempts.last.error_message)
      .to match(/Ractor::IsolationError.*RactorSpec::TouchesGlobal is not Ractor-safe: run it with execution: thread/m)
    engine.register_template(diamond("ractor"), source: "after.yaml")
    expect(engine.wait_for_task(engine.submit_task("squares_ractor", { "n" => 2 }), timeout: 20)).to be_complete
    expect(engine.ractor_pool.alive).to eq(2)
  end

  it "replaces a Ractor that died, and runs its step again" do
    log = StringIO.new
    engine = engine_with_template(<<~YAML, source: "dies.yaml", ractors: 2, logger: Logger.new(log))
      name: dies
      step_templates:
        - { name: only, handler_class: RactorSpec::KillsItsRactor, execution: ractor }
    YAML
    result = engine.wait_for_task(engine.submit_task("dies", {}), timeout: 20)
    expect(result).to be_complete
    expect(result.results["only"]).to eq("survived" => 2)
    deadline = Time.now + 5
    sleep 0.01 until log.string.include?("starting another") || Time.now > deadline
    expect(log.string).to match(/Ractor \d died: Exception: fatal in attempt 1; starting another/)
    expect(engine.ractor_pool.alive).to eq(2)
  end

  describe "registration" do
    {
      "RactorSpec::WithClassVariable" => /class variable RactorSpec::WithClassVariable::@@calls/,
      "RactorSpec::WithMutableConstant" => /constant RactorSpec::WithMutableConstant::RATES holds an unshareable Hash/,
      "RactorSpec::WithClassState" => /class-level instance variable RactorSpec::WithClassState.@cache holds an unshareable Hash/,
      "RactorSpec::NoSuchHandler" => /must be loadable to be checked/
    }.each do |handler, message|
      it "refuses #{handler} for a Ractor step, naming what is in the way, and registers nothing" do
        yaml = "name: bad_ractor\nstep_templates:\n  - { name: only, handler_class: #{handler}, execution: ractor }\n"
        expect { engine.register_template(yaml, source: "bad.yaml") }
          .to raise_error(TaskerCore::ValidationError, /\Abad\.yaml \(task default\/bad_ractor@0\.1\.0\), step 'only': handler #{Regexp.escape(handler)} .*#{message.source}/m)
        expect(engine.templates.map { |t| t[:name] }).not_to include("bad_ractor")
      end
    end

    it "accepts frozen constants and shareable class state, and thread steps with any handler" do
      engine.register_template(<<~YAML, source: "ok.yaml")
        name: ok_ractor
        step_templates:
          - { name: frozen, handler_class: RactorSpec::WithFrozenConfig, execution: ractor }
          - { name: anything, handler_class: RactorSpec::WithClassVariable }
      YAML
      result = engine.wait_for_task(engine.submit_task("ok_ractor", {}), timeout: 20)
      expect(result).to be_complete
      expect(result.results["frozen"]).to eq("max" => 10)
    end
  end

  it "stops with Ractor steps in flight: none is lost, each runs again or finished" do
    engine.register_template(<<~YAML, source: "slow.yaml")
      name: slow_ractor
      step_templates:
        - { name: a, handler_class: RactorSpec::Slow, execution: ractor }
        - { name: b, handler_class: RactorSpec::Slow, execution: ractor }
    YAML
    id = engine.submit_task("slow_ractor", {})
    sleep 0.01 until engine.stats[:steps_in_flight] == 2
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    engine.stop(timeout: 5)
    expect(Process.clock_gettime(Process::CLOCK_MONOTONIC) - started).to be < 5
    steps = engine.task(id).steps
    expect(steps.map(&:current_state)).to all(satisfy { |s| %w[complete error pending].include?(s) })
    expect(steps.select(&:in_process?)).to be_empty
    expect(engine.ractor_pool.alive).to eq(0)
  end

  %w[INT TERM].each do |signal|
    it "stops promptly on SIG#{signal} with Ractor steps in flight" do
      lib = File.expand_path("../../lib", __dir__)
      support = File.expand_path("../support/ractor_handlers.rb", __dir__)
      script = <<~RUBY
        require "tasker_core"
        require #{support.inspect}
        engine = TaskerCore::Engine.start(workers: 0, ractors: 2, database_url: "memory:", instrument: false)
        steps = (1..20).map { |i| "  - { name: s\#{i}, handler_class: RactorSpec::Slow, execution: ractor }" }
        engine.register_template("name: slow\nstep_templates:\n" + steps.join("\n") + "\n")
        engine.submit_task("slow", {})
        $stdout.puts "running"
        $stdout.flush
        begin
          sleep
        rescue Interrupt, SignalException
          taken_back = engine.stop(timeout: 2)
          $stdout.puts "stopped, \#{engine.ractor_pool.alive} Ractors left, \#{taken_back} steps taken back"
          exit 0
        end
      RUBY
      IO.popen([RbConfig.ruby, "-I", lib, "-e", script], "r") do |io|
        expect(io.gets).to eq("running\n")
        sleep 0.5
        started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        Process.kill(signal, io.pid)
        expect(io.gets).to match(/\Astopped, 0 Ractors left, \d+ steps taken back/)
        expect(Process.clock_gettime(Process::CLOCK_MONOTONIC) - started).to be < 2
      end
      expect($?.exitstatus).to eq(0)
    end
  end
end
