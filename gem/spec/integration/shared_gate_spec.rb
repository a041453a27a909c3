# frozen_string_literal: true

require "rbconfig"

# Issue 17 across processes: a concurrency cap holds for every engine on one PostgreSQL
# database together, not per process, and a killed process's slots come back; a pause set
# by one process holds every process's workers, and outlives the process that set it.
# Worker processes (spec/bin/capped_child.rb, 8 threads each, CappedHandler capped at 2) and
# a client that submits; the handlers' start/end marks say what ran, where and when.
RSpec.describe "The dispatch gate across processes on one PostgreSQL database", :slow do
  include WorkerChildren

  CAPPED_CHILD = File.expand_path("../bin/capped_child.rb", __dir__)
  CAPPED = <<~YAML
    name: capped_one
    namespace_name: caps
    version: 1.0.0
    step_templates:
      - { name: a, handler_class: CappedHandler }
  YAML
  # The same step in another namespace: work a pause of `caps` does not hold.
  CONTROL = CAPPED.sub("capped_one", "control_one").sub("namespace_name: caps", "namespace_name: control")

  before { skip "caps are shared across processes on PostgreSQL only" unless SpecStore.postgres? }

  let(:dir) { Dir.mktmpdir("tasker-caps") }
  let(:url) { SpecStore.isolated_url("shared_caps", dir) }
  let(:log) { File.join(dir, "marks.log") }
  let(:template) do
    File.join(dir, "templates").tap do |d|
      Dir.mkdir(d)
      File.write(File.join(d, "capped_one.yaml"), CAPPED)
      File.write(File.join(d, "control_one.yaml"), CONTROL)
    end
  end
  let(:children) { [] }

  after do
    children.each do |pid|
      Process.kill("TERM", pid)
    rescue Errno::ESRCH
      nil
    end
    children.each do |pid|
      Process.wait(pid)
    rescue Errno::ECHILD
      nil
    end
  end

  def spawn_capped(*extra)
    reader, writer = IO.pipe
    pid = Process.spawn(RbConfig.ruby, CAPPED_CHILD, url, template, log, *extra, out: writer)
    writer.close
    raise "worker #{pid} did not start" unless reader.wait_readable(60) && reader.gets == "ready\n"

    reader.close
    children << pid
    pid
  end

  # [[:start | :end, pid, task, µs], …]
  def marks
    return [] unless File.exist?(log)

    File.readlines(log).map { |l| l.split.then { |w, p, t, at| [w.to_sym, Integer(p), Integer(t), Integer(at)] } }
  end

  # The most steps between their start and end marks at one instant (an end at the same
  # microsecond as a start counts first: the slot was free by then).
  def most_at_once(marks)
    marks.sort_by { |w, _, _, at| [at, w == :end ? 0 : 1] }
         .reduce([0, 0]) { |(now, most), (w, *)| now += (w == :start ? 1 : -1); [now, [most, now].max] }
         .last
  end

  def wait_until(seconds)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
    sleep 0.02 until yield || Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
    yield
  end

  it "never runs more than 2 capped steps at once across two processes of 8 workers each" do
    2.times { spawn_capped }
    client = start_engine(templates: template, workers: 0, database_url: url, role: :client)
    ids = Array.new(60) { |i| client.submit_task("capped_one", { "i" => i }, namespace: "caps") }
    ids.each { |id| expect(client.wait_for_task(id, timeout: 120).state).to eq("complete"), "task #{id}" }

    runs = marks
    expect(runs.count { |w, *| w == :start }).to eq(60)
    expect(runs.count { |w, *| w == :end }).to eq(60)
    # Both ran capped steps (each drives at most 4 of the 60 tasks at once, and one task
    # takes 30 ms), so the count below is over two processes, not one.
    expect(runs.map { |_, pid, *| pid }.uniq.size).to eq(2)
    expect(most_at_once(runs)).to be <= 2
  end

  it "gives a killed process's slots to the others" do
    victim = spawn_capped
    client = start_engine(templates: template, workers: 0, database_url: url, role: :client)
    gate = File.join(dir, "open")
    held = Array.new(2) { |i| client.submit_task("capped_one", { "i" => i, "gate" => gate }, namespace: "caps") }
    # The victim holds both slots, its two steps waiting for the gate file.
    expect(wait_until(60) { marks.count { |w, p, *| w == :start && p == victim } == 2 }).to be(true)
    Process.kill("KILL", victim)
    Process.wait(victim)
    children.delete(victim)

    File.write(gate, "")
    survivor = spawn_capped
    more = Array.new(4) { |i| client.submit_task("capped_one", { "i" => i + 2 }, namespace: "caps") }
    (held + more).each { |id| expect(client.wait_for_task(id, timeout: 60).state).to eq("complete"), "task #{id}" }
    after_kill = marks.select { |_, p, *| p == survivor }
    expect(after_kill.count { |w, *| w == :end }).to eq(6)
    expect(most_at_once(after_kill)).to be <= 2
  end

  it "holds a paused namespace's tasks that a worker recovers as it starts" do
    client = start_engine(templates: template, workers: 0, database_url: url, role: :client)
    client.pause(namespace: "caps")
    # Two: the worker drives at most 4 claimed tasks, so it keeps room for the control tasks.
    held = Array.new(2) { |i| client.submit_task("capped_one", { "i" => i }, namespace: "caps") }
    client.flush(timeout: 10)
    # Started after the tasks were stored, its templates registered by Engine.start: its
    # recovery takes them and would dispatch them at once, before any claim round.
    spawn_capped("early")
    claimed = -> { TaskerCore::Insights::Processes.all(engine: client).select { |p| p.role == "worker" }.sum(&:claimed_tasks) }
    expect(wait_until(60) { claimed.call == held.size }).to be(true)
    control = Array.new(4) { |i| client.submit_task("control_one", { "i" => i }, namespace: "control") }
    control.each { |id| expect(client.wait_for_task(id, timeout: 60).state).to eq("complete") }
    expect(marks.map { |_, _, task, _| task } & held).to eq([])

    client.resume(namespace: "caps")
    held.each { |id| expect(client.wait_for_task(id, timeout: 60).state).to eq("complete"), "task #{id}" }
  end

  it "holds a paused namespace in every process until resumed, and the pause outlives its setter" do
    2.times { spawn_capped }
    setter = start_engine(templates: template, workers: 0, database_url: url, role: :client)
    expect(setter.pause(namespace: "caps")).to eq([{ namespace: "caps", template: nil }])
    setter.close(timeout: 5)

    client = start_engine(templates: template, workers: 0, database_url: url, role: :client)
    # The engine that paused is gone; the pause is the database's.
    expect(client.paused).to eq([{ namespace: "caps", template: nil }])
    held = Array.new(4) { |i| client.submit_task("capped_one", { "i" => i }, namespace: "caps") }
    # A worker reads the pauses before each claim, so once every held task is claimed its
    # engine had the pause before it could hand out a step.
    claimed = -> { TaskerCore::Insights::Processes.all(engine: client).select { |p| p.role == "worker" }.sum(&:claimed_tasks) }
    expect(wait_until(60) { claimed.call == held.size }).to be(true)
    control = Array.new(4) { |i| client.submit_task("control_one", { "i" => i }, namespace: "control") }
    control.each { |id| expect(client.wait_for_task(id, timeout: 60).state).to eq("complete") }
    expect(marks.map { |_, _, task, _| task } & held).to eq([])
    expect(held.map { |id| client.task(id).current_state }).to all(eq("in_progress"))

    expect(client.resume(namespace: "caps")).to eq([])
    held.each { |id| expect(client.wait_for_task(id, timeout: 60).state).to eq("complete"), "task #{id}" }
    expect(marks.count { |w, _, task, _| w == :end && held.include?(task) }).to eq(4)
  end
end
