# frozen_string_literal: true

require "logger"
require "stringio"

# Issue 4: lifecycle and custom events delivered to Ruby subscribers.
RSpec.describe "Events" do
  let(:engine) { start_engine(templates: nil) }

  # Fails its first run per task, then succeeds.
  class FlakyOnceHandler < TaskerCore::BaseStepHandler
    @failed = {}
    @lock = Mutex.new
    class << self
      attr_reader :failed, :lock
    end

    def process(context)
      first = self.class.lock.synchronize { self.class.failed[context.task_id] ? false : (self.class.failed[context.task_id] = true) }
      raise TaskerCore::RetryableError, "first run fails" if first

      { "ok" => true }
    end
  end

  # Publishes one custom event, listed or not by the template.
  class AnnouncingHandler < TaskerCore::BaseStepHandler
    def process(context)
      context.publish_event(context.task_context["event"] || "shop.announced", { "n" => 1 })
      { "announced" => true }
    end
  end

  before do
    FlakyOnceHandler.lock.synchronize { FlakyOnceHandler.failed.clear } # task ids repeat across stores
    engine.register_template(<<~YAML, source: "events.yaml")
      name: events
      custom_events: [shop.announced]
      step_templates:
        - { name: first, handler_class: FlakyOnceHandler }
        - { name: second, handler_class: AnnouncingHandler, depends_on_step: first }
    YAML
  end

  # Collects events on the subscriber's dispatcher thread.
  def collector(*patterns, **options)
    events = Queue.new
    subscriber = engine.subscribe(*patterns, **options) { |event| events << event }
    [events, subscriber]
  end

  # Events from `queue` until `count` named `until_name` arrived, plus whatever is queued.
  def drain(queue, until_name: "task.completed", count: 1, timeout: 5)
    got = []
    got << pop_within(queue, timeout) until got.count { |e| e.name == until_name } >= count
    got << queue.pop until queue.empty?
    got
  end

  it "delivers each lifecycle event once per transition, in order, with the documented context" do
    events, = collector
    id = engine.submit_task("events", {})
    expect(engine.wait_for_task(id, timeout: 10)).to be_complete
    got = drain(events).select { |e| e.task_id == id }
    expect(got.map(&:name)).to eq(%w[
      task.initialize_requested task.start_requested workflow.viable_steps_discovered
      step.execution_requested step.before_handle step.failed step.retry_requested
      step.execution_requested step.before_handle step.completed
      workflow.viable_steps_discovered step.execution_requested step.before_handle shop.announced step.completed
      task.completed
    ])

    task = engine.task(id)
    first = task.steps.find_by(name: "first")
    # Once per transition: the events match the stored history one to one.
    { "step.before_handle" => "in_progress", "step.completed" => "complete", "step.failed" => "error" }.each do |event, state|
      transitions = task.steps.sum { |s| s.state_transitions.count { |t| t.to_state == state } }
      expect(got.count { |e| e.name == event }).to eq(transitions), "#{event} vs #{state} transitions"
    end
    expect(got.count { |e| e.name == "task.completed" }).to eq(task.state_transitions.count { |t| t.to_state == "complete" })

    failed = got.find { |e| e.name == "step.failed" }
    expect(failed.context).to include("task_id" => id, "step_id" => first.step_id, "step_name" => "first",
                                      "task_name" => "events", "namespace" => "default", "attempt" => 1,
                                      "error_class" => "TaskerCore::RetryableError")
    expect(failed.context["error_message"]).to start_with("first run fails")
    expect(failed.context["duration_ms"]).to be_a(Float)
    completed = got.reverse.find { |e| e.name == "step.completed" }
    expect(completed.context).to include("step_name" => "second", "attempt" => 1)
    expect([completed.step_id, completed.task_id]).to eq([task.steps.find_by(name: "second").step_id, id])
    expect(completed.occurred_at).to be_a(Time)
    expect(completed.occurred_at).to be_within(5).of(Time.now)
    expect(got.map(&:occurred_at)).to eq(got.map(&:occurred_at).sort)
    expect(got.last.context.keys).to contain_exactly("task_id", "task_name", "namespace")
  end

  it "announces task failure, retry and cancellation with their step events" do
    engine.register_template(<<~YAML, source: "fails.yaml")
      name: fails
      step_templates:
        - { name: only, handler_class: ToggleHandler, default_retry_limit: 1 }
    YAML
    events, = collector("task.*", "step.failed", "step.retry_requested")
    ToggleHandler.broken = true
    id = engine.submit_task("fails", {})
    expect(engine.wait_for_task(id, timeout: 10)).to be_error
    failed = drain(events, until_name: "task.failed")
    expect(failed.map(&:name)).to eq(%w[task.initialize_requested task.start_requested step.failed task.failed])
    expect(failed.last.context).to include("task_id" => id, "task_name" => "fails")

    ToggleHandler.broken = false
    engine.task(id).retry!(reason: "fixed")
    expect(engine.wait_for_task(id, timeout: 10)).to be_complete
    retried = drain(events)
    expect(retried.map(&:name)).to eq(%w[task.retry_requested task.completed])

    other = engine.create_task("fails", {})
    engine.flush
    engine.task(other).cancel!(reason: "withdrawn")
    cancelled = drain(events, until_name: "task.cancelled")
    expect(cancelled.map { |e| [e.name, e.task_id] }).to eq([["task.initialize_requested", other], ["task.cancelled", other]])
  ensure
    ToggleHandler.broken = false
  end

  it "announces a transition once it is stored: the store already shows it" do
    seen = Queue.new
    engine.subscribe("task.completed") { |event| seen << engine.native.task_summary(event.task_id)["state"] }
    id = engine.submit_task("events", {})
    expect(pop_within(seen, 10)).to eq("complete")
    expect(engine.wait_for_task(id, timeout: 5)).to be_complete
  end

  it "matches patterns: a family, an exact name, several at once" do
    steps, = collector("step.*")
    done, = collector("task.completed")
    some, = collector("task.start_requested", "shop.*")
    id = engine.submit_task("events", {})
    engine.wait_for_task(id, timeout: 10)
    expect(drain(steps, until_name: "step.completed", count: 2).map(&:name)).to all(start_with("step."))
    expect(drain(done).map(&:name)).to eq(["task.completed"])
    expect(drain(some, until_name: "shop.announced").map(&:name)).to eq(%w[task.start_requested shop.announced])
  end

  it "delivers a listed custom event with its payload and refuses an unlisted one in the handler" do
    events, = collector("shop.*")
    ok = engine.submit_task("events", {})
    expect(engine.wait_for_task(ok, timeout: 10)).to be_complete
    announced = drain(events, until_name: "shop.announced").last
    expect(announced.context).to include("payload" => { "n" => 1 }, "step_name" => "second", "task_id" => ok)

    bad = engine.submit_task("events", { "event" => "shop.unlisted" })
    result = engine.wait_for_task(bad, timeout: 10)
    expect(result).to be_error
    message = result.steps.find { |s| s.name == "second" }.error
    expect(message.to_s).to match(/shop\.unlisted/)
  end

  it "keeps delivering to the others, and running, when one subscriber raises" do
    log = StringIO.new
    engine = start_engine(templates: nil, logger: Logger.new(log))
    engine.register_template("name: two\nstep_templates:\n  - { name: a, handler_class: Fixtures::RecordingHandler }\n  - { name: b, handler_class: Fixtures::RecordingHandler, depends_on_step: a }\n")
    raising = engine.subscribe("*", name: "raiser") { |_event| raise "subscriber bug" }
    events = Queue.new
    engine.subscribe("*", name: "steady") { |event| events << event }
    ids = Array.new(3) { engine.submit_task("two", {}) }
    ids.each { |id| expect(engine.wait_for_task(id, timeout: 10)).to be_complete }
    got = drain(events, count: 3)
    expect(got.count { |e| e.name == "step.completed" }).to eq(6)
    # Each subscriber has its own dispatcher thread: the raiser's may still be behind the
    # steady one's here, so wait (bounded) until it has seen as many events.
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 5
    sleep 0.01 while engine.events.stats["raiser"][:handled] < got.size &&
                     Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
    stats = engine.events.stats
    expect(stats["raiser"][:errors]).to eq(stats["raiser"][:handled])
    expect(stats["raiser"][:errors]).to be >= got.size
    expect(stats["steady"][:errors]).to eq(0)
    expect(log.string).to include("event subscriber raiser raised on task.initialize_requested: RuntimeError: subscriber bug")
    expect(engine.events.subscribers).to include(raising)
  end

  describe "a stalled subscriber" do
    def run_wide_tasks(engine, count)
      ids = Array.new(count) { engine.submit_task("wide", {}, namespace: "fixtures") }
      ids.each { |id| expect(engine.wait_for_task(id, timeout: 30)).to be_complete }
    end

    [:drop_newest, :drop_oldest].each do |overflow|
      it "does not hold the workflow up, and receives a gap counting what it missed (#{overflow})" do
        engine = start_engine
        gate = Queue.new
        received = []
        stalled = engine.subscribe("*", capacity: 16, overflow: overflow, name: "stalled") do |event|
          gate.pop if received.empty?
          received << event
        end
        run_wide_tasks(engine, 5) # finishes while the subscriber is stuck on its first event
        # The bus publishes after the commits the tasks finish on: on a loaded machine it may
        # still be fanning their last events out, so wait (bounded) for the drops to show.
        deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 10
        sleep 0.01 while engine.events.stats["stalled"][:dropped].zero? &&
                         Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
        expect(engine.events.stats["stalled"][:dropped]).to be > 0
        gate << :go
        # Every loss is reported: the gaps (one, or more when events announced after the
        # last commit were lost too) add up to what the bus dropped.
        missed = -> { received.select(&:gap?).sum(&:missed) }
        deadline = Time.now + 5
        until (missed.call == engine.events.stats["stalled"][:dropped] && engine.events.stats["stalled"][:lag].zero?) ||
              Time.now > deadline
          sleep 0.02
        end
        gaps = received.select(&:gap?)
        expect(gaps).not_to be_empty
        expect(missed.call).to eq(engine.events.stats["stalled"][:dropped])
        expect(gaps.map(&:name)).to all(eq(TaskerCore::Event::GAP))
        expect(gaps.map(&:context)).to eq(gaps.map { |g| { "missed" => g.missed } })
        expect(engine.events.stats["stalled"][:gaps]).to eq(gaps.size)
        expect(engine.unsubscribe(stalled)).to be(true)
      end
    end
  end

  it "stops delivering after unsubscribe" do
    events, subscriber = collector
    first = engine.submit_task("events", {})
    engine.wait_for_task(first, timeout: 10)
    drain(events)
    expect(engine.unsubscribe(subscriber)).to be(true)
    expect(engine.unsubscribe(subscriber)).to be(false)
    expect(engine.events.stats).to be_empty
    second = engine.submit_task("events", {})
    engine.wait_for_task(second, timeout: 10)
    sleep 0.1
    expect(events.size).to eq(0)
  end

  it "dispatches a subscriber class to its handle_ methods" do
    stub_const("CompletionCounter", Class.new(TaskerCore::EventSubscriber) do
      subscribe_to "task.completed", "step.completed"
      attr_reader :seen

      def initialize(...)
        super
        @seen = Queue.new
      end

      def handle_task_completed(event) = seen << [:task, event.task_id]
      def handle_step_completed(event) = seen << [:step, event.context["step_name"]]
    end)
    counter = engine.subscribe(CompletionCounter.new)
    expect(counter.patterns).to eq(%w[task.completed step.completed])
    id = engine.submit_task("events", {})
    engine.wait_for_task(id, timeout: 10)
    got = Array.new(3) { pop_within(counter.seen, 5) }
    expect(got).to eq([[:step, "first"], [:step, "second"], [:task, id]])
  end

  it "refuses a bad pattern or overflow policy, subscribing nothing" do
    expect { engine.subscribe("st*ep") { nil } }
      .to raise_error(TaskerCore::ValidationError, /event pattern: .*only a trailing \* is supported/)
    expect { engine.subscribe("*", overflow: :block) { nil } }
      .to raise_error(TaskerCore::ValidationError, /overflow: .*expected drop_newest or drop_oldest/)
    expect { engine.subscribe("*", capacity: 0) { nil } }.to raise_error(TaskerCore::ValidationError, /capacity/)
    expect(engine.events.subscribers).to be_empty
  end
end
