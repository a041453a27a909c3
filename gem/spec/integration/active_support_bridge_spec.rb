# frozen_string_literal: true

require "active_support"
require "active_support/notifications"
require "active_support/log_subscriber"
require "logger"
require "stringio"

# Issue 4's Rails bridge, with Debian's activesupport.
RSpec.describe "ActiveSupport::Notifications bridge" do
  let(:engine) { start_engine(templates: nil, instrument: :auto) }

  before do
    engine.register_template("name: bridged\nstep_templates:\n  - { name: only, handler_class: Fixtures::RecordingHandler }\n")
  end

  after { @as_subscribers&.each { |s| ActiveSupport::Notifications.unsubscribe(s) } }

  def as_subscribe(pattern, &block)
    (@as_subscribers ||= []) << ActiveSupport::Notifications.subscribe(pattern, &block)
  end

  def wait_until(seconds = 5)
    deadline = Time.now + seconds
    sleep 0.005 until yield || Time.now > deadline
  end

  it "instruments every event as <name>.tasker_core with the context as payload" do
    seen = Queue.new
    as_subscribe(/\A\w+\.\w+\.tasker_core\z/) { |name, _start, _finish, _id, payload| seen << [name, payload] }
    id = engine.submit_task("bridged", {})
    expect(engine.wait_for_task(id, timeout: 10)).to be_complete
    got = []
    wait_until { got << seen.pop until seen.empty?; got.any? { |n, _| n == "task.completed.tasker_core" } }
    names = got.map(&:first)
    expect(names).to eq(%w[task.initialize_requested task.start_requested workflow.viable_steps_discovered
                           step.execution_requested step.before_handle step.completed task.completed]
                          .map { |n| "#{n}.tasker_core" })
    _, payload = got.find { |n, _| n == "step.completed.tasker_core" }
    expect(payload).to include(task_id: id, step_name: "only", task_name: "bridged", attempt: 1)
    expect(payload[:event]).to be_a(TaskerCore::Event)
    expect(payload[:occurred_at]).to be_a(Time)
    expect(engine.events.stats).to have_key("ActiveSupport::Notifications")
  end

  it "instruments each event under one name only, so a pattern subscriber sees it once" do
    seen = Queue.new
    as_subscribe(/tasker_core\z/) { |name, *| seen << name }
    id = engine.submit_task("bridged", {})
    expect(engine.wait_for_task(id, timeout: 10)).to be_complete
    got = []
    wait_until { got << seen.pop until seen.empty?; got.include?("task.completed.tasker_core") }
    expect(got.tally.values).to all(eq(1)), got.inspect
    expect(got).not_to include(a_string_matching(/\A[a-z]+_[a-z_]+\.tasker_core\z/))
  end

  it "lets a TaskerCore::LogSubscriber attached to :tasker_core log events (methods named with underscores)" do
    log = StringIO.new
    stub_const("TaskerLogSubscriber", Class.new(TaskerCore::LogSubscriber) do
      define_method(:task_completed) { |event| info("tasker task #{event.payload[:task_id]} completed") }
      define_method(:step_before_handle) { |event| info("tasker step #{event.payload[:step_name]} starts") }
      define_method(:workflow_viable_steps_discovered) { |event| info("tasker discovered in #{event.payload[:task_id]}") }
    end)
    previous = ActiveSupport::LogSubscriber.logger
    ActiveSupport::LogSubscriber.logger = Logger.new(log) # log subscribers share their base class's logger
    TaskerLogSubscriber.attach_to(:tasker_core)
    begin
      id = engine.submit_task("bridged", {})
      engine.wait_for_task(id, timeout: 10)
      wait_until { log.string.include?("tasker task #{id} completed") }
      expect(log.string).to include("tasker task #{id} completed")
      expect(log.string.scan("tasker step only starts").size).to eq(1)
      expect(log.string).to include("tasker discovered in #{id}")
    ensure
      TaskerLogSubscriber.detach_from(:tasker_core)
      ActiveSupport::LogSubscriber.logger = previous
    end
  end

  it "is off when asked, and on by default only where ActiveSupport is loaded" do
    quiet = start_engine(templates: nil, instrument: false)
    expect(quiet.events.stats).to be_empty
    expect(engine.events.stats.keys).to eq(["ActiveSupport::Notifications"])
    expect(TaskerCore::ActiveSupportBridge.available?).to be(true)
  end
end
