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

  # The pids of the processes owning the cap's slot rows, by slot number.
  def slot_owners
    sql = "SELECT p.pid FROM tasker_core_cap_slots c JOIN tasker_core_processes p ON p.id = c.owner ORDER BY c.slot"
    IO.popen(["psql", url, "-At", "-c", sql], err: File::NULL, &:read).split.map { |pid| Integer(pid) }
  end

  it "gives a killed process's slots to the others by taking them over" do
    # A lease far longer than the example: only the dead-pid path (the victim's pid gone from
    # this host) can free the victim's slots, so the example fails if that takeover is broken.
    victim = spawn_capped("lease=600")
    client = start_engine(templates: template, workers: 0, database_url: url, role: :client)
    gate = File.join(dir, "open")
    held = Array.new(2) { |i| client.submit_task("capped_one", { "i" => i, "gate" => gate }, namespace: "caps") }
    # The victim holds both slots, its two steps waiting for the gate file.
    expect(wait_until(60) { marks.count { |w, p, *| w == :start && p == victim } == 2 }).to be(true)
    expect(slot_owners).to eq([victim, victim])
    Process.kill("KILL", victim)
    Process.wait(victim)
    children.delete(victim)

    survivor = spawn_capped("lease=600")
    # The survivor takes the victim's tasks and both of its slot rows, and waits at the gate.
    expect(wait_until(60) { marks.count { |w, p, *| w == :start && p == survivor } == 2 }).to be(true)
    expect(slot_owners).to eq([survivor, survivor])
    File.write(gate, "")
    more = Array.new(4) { |i| client.submit_task("capped_one", { "i" => i + 2 }, namespace: "caps") }
    (held + more).each { |id| expect(client.wait_for_task(id, timeout: 60).state).to eq("complete"), "task #{id}" }
    after_kill = marks.select { |_, p, *| p == survivor }
    expect(after_kill.count { |w, *| w == :end }).to eq(6)
    expect(most_at_once(after_kill)).to be <= 2
  end

  it "lets a process that stalled past its lease start no capped step on the slots it lost" do
    stalled = spawn_capped
    client = start_engine(templates: template, workers: 0, database_url: url, role: :client)
    gate = File.join(dir, "open")
    ids = Array.new(4) { |i| client.submit_task("capped_one", { "i" => i, "gate" => gate }, namespace: "caps") }
    # It claims all four (max_tasks 4): two run, waiting for the gate, on its two slots; two
    # wait for a slot.
    expect(wait_until(60) { marks.count { |w, p, *| w == :start && p == stalled } == 2 }).to be(true)
    stopped_at = Process.clock_gettime(Process::CLOCK_REALTIME, :microsecond)
    Process.kill("STOP", stalled)
    begin
      # Its heartbeat ages past the 3 s lease: the other process takes its tasks and slots.
      other = spawn_capped
      expect(wait_until(60) { marks.count { |w, p, *| w == :start && p == other } == 2 }).to be(true)
    ensure
      Process.kill("CONT", stalled)
    end
    # Both finish their two running steps at once: the stalled one must not let its two
    # waiting steps out on the slots it had while the other lets its own out.
    File.write(gate, "")
    ids.each { |id| expect(client.wait_for_task(id, timeout: 60).state).to eq("complete"), "task #{id}" }
    expect(wait_until(10) { marks.count { |w, p, *| w == :end && p == stalled } >= 2 }).to be(true)
    # The two steps it had running when stopped ran on through the stall: a step handed out
    # is run at least once, and those tasks were taken over (docs/processes.md). Every other
    # run counts.
    before_stop = marks.select { |w, p, _, at| w == :start && p == stalled && at < stopped_at }.map { |_, _, task, _| task }
    expect(before_stop.size).to eq(2)
    counted = marks.reject { |_, p, task, _| p == stalled && before_stop.include?(task) }
    expect(counted.count { |w, p, *| w == :end && p == other }).to be >= 4
    expect(most_at_once(counted)).to be <= 2
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

  it "holds a paused namespace in an engine that claims nothing (recover: false), from its start" do
    setter = start_engine(templates: template, workers: 0, database_url: url, role: :client)
    setter.pause(namespace: "caps")
    own = File.join(dir, "own").tap do |d|
      Dir.mkdir(d)
      noop = CAPPED.sub("CappedHandler", "Fixtures::NoopHandler")
      File.write(File.join(d, "own_capped.yaml"), noop.sub("capped_one", "own_capped"))
      File.write(File.join(d, "own_control.yaml"),
                 noop.sub("capped_one", "own_control").sub("namespace_name: caps", "namespace_name: control"))
    end
    # Its own tasks' steps go out here, so it must honour the pause though it claims nothing.
    engine = start_engine(templates: own, workers: 2, database_url: url, recover: false, claim_interval: 0.2)
    held = engine.submit_task("own_capped", {}, namespace: "caps")
    control = engine.submit_task("own_control", {}, namespace: "control")
    expect(engine.wait_for_task(control, timeout: 60).state).to eq("complete")
    expect(engine.task(held).current_state).not_to eq("complete")

    setter.resume(namespace: "caps")
    expect(engine.wait_for_task(held, timeout: 60).state).to eq("complete")
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
