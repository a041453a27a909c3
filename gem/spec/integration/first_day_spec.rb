# frozen_string_literal: true

require "logger"
require "stringio"

# Issue 13: what a new user hits on day one — reading a task at once after submitting it,
# a context that is not a Hash, a handler whose exception is not a StandardError, and
# passwords in logged URLs. (Recovery after late registration: late_registration_spec.rb.)
RSpec.describe "First-day defects" do
  let(:engine) { start_engine(templates: nil, workers: 2) }

  before do
    engine.register_template(<<~YAML, source: "first_day.yaml")
      name: first_day
      step_templates:
        - { name: one, handler_class: Fixtures::RecordingHandler }
        - { name: two, handler_class: Fixtures::RecordingHandler, depends_on_step: one }
    YAML
  end

  describe "reading a task this engine just accepted" do
    after { TaskerCore.instance_variable_set(:@engine, nil) }

    it "finds it at once through every reader that takes a task id" do
      TaskerCore.instance_variable_set(:@engine, engine)
      # Many rounds: each read races the group commit that stores the task.
      30.times do |i|
        id = engine.submit_task("first_day", { "i" => i })
        expect(TaskerCore::Task.find(id).task_id).to eq(id)
        id = engine.submit_task("first_day", { "i" => i })
        expect(engine.task(id).task_id).to eq(id)
        id = engine.submit_task("first_day", { "i" => i })
        expect(engine.task_result(id).task_id).to eq(id)
        id = TaskerCore.submit("first_day", { "i" => i })
        expect(TaskerCore::Task.find(id).runtime_graph_analyzer.analyze).to include(:critical_paths)
      end
    end

    it "can operate on it at once" do
      gate = Queue.new
      stub_const("BlockedHandler", Class.new(TaskerCore::BaseStepHandler) do
        define_method(:process) { |_context| gate.pop }
      end)
      engine.register_template("name: blocked\nstep_templates:\n  - { name: wait, handler_class: BlockedHandler }\n")
      id = engine.create_task("blocked", {})
      task = engine.task(id)
      expect(task.current_state).to eq("pending")
      task.cancel!(reason: "changed my mind")
      expect(engine.task(id).current_state).to eq("cancelled")
    ensure
      gate&.close
    end

    it "still answers nil or a clear error for an id no engine handed out" do
      expect(engine.native.task(987_654_321)).to be_nil
      expect { engine.task(987_654_321) }.to raise_error(TaskerCore::ValidationError, /task 987654321: no such task/)
    end
  end

  describe "the task context" do
    it "must be a Hash; nil means an empty one" do
      before_count = engine.stats[:tasks_submitted]
      [42, "order 7", [1, 2], 1.5, true].each do |bad|
        expect { engine.submit_task("first_day", bad) }
          .to raise_error(TaskerCore::ValidationError, /context for task default\/first_day@0\.1\.0: must be a Hash/)
      end
      expect(engine.stats[:tasks_submitted]).to eq(before_count)
      id = engine.submit_task("first_day", nil)
      expect(engine.wait_for_task(id, timeout: 10)).to be_complete
      expect(engine.task(id).context).to eq({})
    end
  end

  describe "a handler that raises what is not a StandardError" do
    [LoadError, NotImplementedError, NoMemoryError].each do |fatal|
      it "fails its step with #{fatal}, replaces the worker once, and lets stop return normally" do
        log = StringIO.new
        quiet = start_engine(templates: nil, workers: 2, logger: Logger.new(log))
        stub_const("FatalHandler", Class.new(TaskerCore::BaseStepHandler) do
          define_method(:process) { |_context| raise fatal, "cannot load such file -- missing_gem" }
        end)
        quiet.register_template("name: fatal\nstep_templates:\n  - { name: boom, handler_class: FatalHandler, default_retry_limit: 1 }\n")
        id = quiet.submit_task("fatal", {})
        expect(quiet.wait_for_task(id, timeout: 10).state).to eq("error")
        step = quiet.task(id).steps.find_by(name: "boom")
        expect(step.execution_attempts.map(&:error_message)).to all(include("missing_gem"))
        expect(step.state_transitions.map(&:metadata).map { |m| m["error_class"] }.compact).to eq([fatal.name])
        # The dead worker is replaced, so the pool keeps its size and runs more work.
        deadline = monotonic + 5
        sleep 0.01 until quiet.pool.threads.count(&:alive?) == 2 || monotonic > deadline
        expect(quiet.pool.threads.count(&:alive?)).to eq(2)
        quiet.register_template("name: after_fatal\nstep_templates:\n  - { name: ok, handler_class: Fixtures::RecordingHandler }\n")
        expect(quiet.wait_for_task(quiet.submit_task("after_fatal", {}), timeout: 10)).to be_complete
        expect { quiet.stop(timeout: 5) }.not_to raise_error
        expect(log.string.scan(/worker \d died: #{fatal}/).size).to eq(1)
      end
    end
  end

  describe "passwords in URLs" do
    {
      "postgres://app:s3cret@db.example:5432/shop" => "postgres://app:***@db.example:5432/shop",
      "postgres://app@db/shop?password=s3cret&sslmode=require" => "postgres://app@db/shop?password=***&sslmode=require",
      "postgres:///shop?host=/run/postgresql&sslpassword=s3cret&passfile=/home/app/.pgpass" =>
        "postgres:///shop?host=/run/postgresql&sslpassword=***&passfile=***",
      "postgres://:s3cret@db/shop" => "postgres://:***@db/shop",
      "sqlite:///var/app/tasks.sqlite3" => "sqlite:///var/app/tasks.sqlite3"
    }.each do |url, shown|
      it "shows #{shown}" do
        expect(TaskerCore::Engine.redact(url)).to eq(shown)
        expect(TaskerCore::Rails::DatabaseUrl.redact(url)).to eq(shown) if defined?(TaskerCore::Rails::DatabaseUrl)
      end
    end

    it "hides them in the engine's database_url and in errors" do
      expect { TaskerCore::Engine.start(database_url: "postgres://app@127.0.0.1:1/x?password=s3cret&connect_timeout=1", workers: 0) }
        .to raise_error(TaskerCore::Error) { |e| expect(e.message).not_to include("s3cret") }
    end
  end

  describe "a mistyped method on what the engine returns" do
    # Ruby 3.1 puts the receiver's #inspect into a NoMethodError's message: a Step's default
    # one printed its task, the engine, its pools, threads and logger (about 20 KB) before
    # the one line that mattered.
    it "names the object in one line" do
      id = engine.submit_task("first_day", { "i" => 1 })
      result = engine.wait_for_task(id)
      expect(result.state).to eq("complete")
      # A TaskResult answers to Task's and Step's name for it too.
      expect(result.current_state).to eq("complete")
      task = engine.task(id)
      step = task.steps.first
      expect(task.inspect).to match(%r{\A#<TaskerCore::Task #{id} default/first_day@0\.1\.0 complete, 2 steps>\z})
      expect(step.inspect).to match(/\A#<TaskerCore::Step #{step.step_id} one of task #{id} complete, attempts 0, retry_limit 3>\z/)
      expect(engine.inspect).to match(/\A#<TaskerCore::Engine .+, 2 worker threads>\z/)
      expect(engine.pool.inspect).to eq("#<TaskerCore::WorkerPool 2 threads, batch #{engine.pool.batch_size}>")
      message = begin
        step.state
      rescue NoMethodError => e
        e.message
      end
      expect(message).to start_with("undefined method `state' for #<TaskerCore::Step")
      expect(message.length).to be < 200
    end
  end

end
