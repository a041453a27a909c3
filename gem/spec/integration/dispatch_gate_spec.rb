# frozen_string_literal: true

# The dispatch gate (issue 17): priority with aging, concurrency caps, pause and resume.
# Every wait is bounded; no assertion depends on timing: "did not start" is checked after a
# round trip through the engine (`engine.paused`), which answers only once every report sent
# before it has been handled.
module DispatchGateSpec
  LOCK = Mutex.new
  CHANGED = ConditionVariable.new

  class << self
    attr_reader :started, :running, :max_running

    def reset
      LOCK.synchronize do
        @started = []
        @running = 0
        @max_running = 0
        @gates = {}
      end
    end

    def record(label)
      LOCK.synchronize { @started << label }
    end

    # Counts this step as running; waits (bounded) for a second one so the cap is reached.
    def run_capped
      LOCK.synchronize do
        @running += 1
        @max_running = [@max_running, @running].max
        CHANGED.broadcast
        deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 1
        while @running < 2 && (left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)).positive?
          CHANGED.wait(LOCK, left)
        end
        @running -= 1
      end
    end

    def gate(name) = LOCK.synchronize { @gates[name] ||= Queue.new }
  end

  # Records the task's "label" when it starts.
  class Recording < TaskerCore::BaseStepHandler
    def process(context)
      DispatchGateSpec.record(context.task_context["label"])
      { "ok" => true }
    end
  end

  # Counts concurrent runs.
  class Capped < TaskerCore::BaseStepHandler
    def process(_context)
      DispatchGateSpec.run_capped
      { "ok" => true }
    end
  end

  # Records, then waits (bounded) until the spec opens its gate.
  class Blocking < TaskerCore::BaseStepHandler
    def process(context)
      DispatchGateSpec.record("#{context.task_context['label']}:#{context.step_name}")
      DispatchGateSpec.gate(context.task_context["label"]).pop if context.step_name == "first"
      { "ok" => true }
    end
  end

  def self.template(name, namespace, handler, steps: 1)
    list = (1..steps).map do |i|
      step = i == 1 ? "first" : "s#{i}"
      parent = i == 1 ? "" : ", depends_on_step: #{i == 2 ? 'first' : "s#{i - 1}"}"
      "  - { name: #{step}, handler_class: DispatchGateSpec::#{handler}#{parent} }"
    end
    "name: #{name}\nnamespace_name: #{namespace}\nstep_templates:\n#{list.join("\n")}\n"
  end
end

RSpec.describe "Dispatch gate" do
  before { DispatchGateSpec.reset }
  after { stop_engines }

  def wait_until(seconds = 10)
    deadline = monotonic + seconds
    until yield
      raise "condition not met within #{seconds} s" if monotonic > deadline

      sleep 0.005
    end
  end

  # Submits 1,000 low-priority tasks, then one high-priority task (`submit_high` does),
  # while the only worker is busy; returns the labels in the order their steps started, and
  # the pool.
  def run_behind_low(submit_high)
    engine = start_engine(templates: nil, workers: 1, batch_size: 16)
    engine.register_template(DispatchGateSpec.template("gate_prio", "gate_prio", "Recording"))
    engine.register_template(DispatchGateSpec.template("gate_hold", "gate_hold", "Blocking"))
    # The one worker runs a step that waits for the spec, so it takes nothing else meanwhile.
    blocker = engine.submit_task("gate_hold", { "label" => "blocker" })
    wait_until { DispatchGateSpec.started.include?("blocker:first") }
    low = Array.new(1000) { |i| engine.submit_task("gate_prio", { "label" => "low#{i}" }) }
    high = submit_high.call(engine)
    # A round trip through the engine: every submission before it has been handed out
    # (queued for the pool, or held in the gate) before the worker takes anything more.
    engine.paused
    DispatchGateSpec.gate("blocker") << true
    ([blocker, high] + low).each { |id| expect(engine.wait_for_task(id, timeout: 60)).to be_complete }
    [DispatchGateSpec.started - ["blocker:first"], engine.pool]
  end

  it "starts a high-priority task submitted behind 1,000 low-priority ones before every low one not yet handed out" do
    order, pool = run_behind_low(->(e) { e.submit_task("gate_prio", { "label" => "high" }, priority: 10) })
    # The queue the gate keeps for the pool: two batches per worker, not a fixed depth.
    expect(pool.queue_depth).to eq(pool.size * pool.batch_size * 2)
    expect(order.size).to eq(1001)
    # Handed out before the high task arrived: what the pool's queue held (the worker held
    # only the blocker), the first low tasks in submission order. Every other low task
    # starts after the high one.
    before = order.index("high")
    expect(before).to be <= pool.queue_depth
    expect(order.first(before)).to eq(Array.new(before) { |i| "low#{i}" })
  end

  it "takes the priority of a task submitted once (submit_once) too" do
    submit = lambda do |e|
      e.submit_once("gate_prio", { "label" => "high" }, identity: { key: "gate-high" }, priority: 10).task_id
    end
    order, pool = run_behind_low(submit)
    expect(order.index("high")).to be <= pool.queue_depth
  end

  it "keeps only a started pool's depth queued: steps queued before the pool started go back to wait by priority" do
    engine = start_engine(templates: nil, workers: 0)
    engine.register_template(DispatchGateSpec.template("gate_prio", "gate_prio", "Recording"))
    low = Array.new(1000) { |i| engine.submit_task("gate_prio", { "label" => "low#{i}" }) }
    high = engine.submit_task("gate_prio", { "label" => "high" }, priority: 10)
    pool = engine.start_pool(workers: 1, batch_size: 16)
    ([high] + low).each { |id| expect(engine.wait_for_task(id, timeout: 60)).to be_complete }
    order = DispatchGateSpec.started
    expect(order.size).to eq(1001)
    # The engine queued its default depth for takers it knew nothing of; the pool's start
    # kept only the pool's depth of them queued, and the high task went next.
    expect(order.index("high")).to be <= pool.queue_depth
  end

  it "never runs more than 2 steps of a capped handler at once under 8 workers" do
    engine = start_engine(templates: nil, workers: 8, concurrency: { handlers: { "DispatchGateSpec::Capped" => 2 } })
    engine.register_template(DispatchGateSpec.template("gate_cap", "gate_cap", "Capped"))
    ids = Array.new(12) { engine.submit_task("gate_cap", {}) }
    ids.each { |id| expect(engine.wait_for_task(id, timeout: 30)).to be_complete }
    expect(DispatchGateSpec.max_running).to eq(2)
  end

  it "caps per namespace and per context key too, and refuses bad limits naming the entry" do
    engine = start_engine(templates: nil, workers: 8,
                          concurrency: { "namespaces" => { "gate_ns" => 2 }, "keys" => { "account" => 5 } })
    engine.register_template(DispatchGateSpec.template("gate_ns", "gate_ns", "Capped"))
    ids = Array.new(8) { |i| engine.submit_task("gate_ns", { "account" => i % 2 }) }
    ids.each { |id| expect(engine.wait_for_task(id, timeout: 30)).to be_complete }
    expect(DispatchGateSpec.max_running).to eq(2)

    expect { start_engine(templates: nil, workers: 0, concurrency: { handlers: { "Pay" => 0 } }) }
      .to raise_error(TaskerCore::ConfigurationError, /concurrency handlers\.Pay: expected an Integer ≥ 1/)
    expect { start_engine(templates: nil, workers: 0, concurrency: { queues: {} }) }
      .to raise_error(TaskerCore::ConfigurationError, /concurrency queues: unknown group/)
    expect { engine.submit_task("gate_ns", {}, priority: "high") }
      .to raise_error(TaskerCore::ValidationError, /priority: expected an Integer/)
  end

  it "holds a paused namespace's steps while another's run, and releases them on resume" do
    engine = start_engine(templates: nil, workers: 4)
    engine.register_template(DispatchGateSpec.template("gate_a", "gate_a", "Recording"))
    engine.register_template(DispatchGateSpec.template("gate_b", "gate_b", "Recording"))
    expect(engine.pause(namespace: "gate_a")).to eq([{ namespace: "gate_a", template: nil }])
    paused_ids = Array.new(5) { |i| engine.submit_task("gate_a", { "label" => "a#{i}" }) }
    other_ids = Array.new(5) { |i| engine.submit_task("gate_b", { "label" => "b#{i}" }) }
    other_ids.each { |id| expect(engine.wait_for_task(id, timeout: 30)).to be_complete }
    expect(engine.paused).to eq([{ namespace: "gate_a", template: nil }])
    expect(DispatchGateSpec.started.grep(/\Aa/)).to be_empty
    expect(paused_ids.map { |id| engine.task_state(id) }.uniq).to eq(["in_progress"])

    expect(engine.resume(namespace: "gate_a")).to eq([])
    paused_ids.each { |id| expect(engine.wait_for_task(id, timeout: 30)).to be_complete }
    expect(DispatchGateSpec.started.grep(/\Aa/).size).to eq(5)
    expect { engine.pause(namespace: "no_such_namespace") }
      .to raise_error(TaskerCore::ValidationError, /pause namespace no_such_namespace/)
  end

  it "lets a running step finish when its template is paused, and holds the next one" do
    engine = start_engine(templates: nil, workers: 2)
    engine.register_template(DispatchGateSpec.template("gate_run", "gate_run", "Blocking", steps: 2))
    id = engine.submit_task("gate_run", { "label" => "r" })
    wait_until { DispatchGateSpec.started.include?("r:first") }
    engine.pause(namespace: "gate_run", template: "gate_run")
    DispatchGateSpec.gate("r") << :go
    wait_until { engine.task(id).steps.find { |s| s.name == "first" }.current_state == "complete" }
    engine.paused # a round trip: the second step was held, if it was to be
    expect(DispatchGateSpec.started).to eq(["r:first"])
    expect(engine.task_state(id)).to eq("in_progress")

    engine.resume(namespace: "gate_run", template: "gate_run")
    expect(engine.wait_for_task(id, timeout: 30)).to be_complete
    expect(DispatchGateSpec.started).to eq(["r:first", "r:s2"])
  end
end
