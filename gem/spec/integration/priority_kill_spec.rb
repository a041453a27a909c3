# frozen_string_literal: true

require "rbconfig"
require "fileutils"

# Issue 17: priorities survive a worker killed with SIGKILL. A worker process holds a
# high-priority task queued behind 1,000 low-priority ones (its one thread busy with a hung
# step) when it is killed; a restarted worker recovers them all, and the high-priority task
# starts before every low one it was not already queued behind. No timing is asserted: the
# order in which steps started is read from the children's log.
RSpec.describe "Priority after kill -9" do
  PRIORITY_KILL_CHILD = File.expand_path("../bin/priority_child.rb", __dir__)
  PRIORITY_KILL_TEMPLATE = <<~YAML
    name: prio_kill
    namespace_name: prio_kill
    step_templates:
      - { name: only, handler_class: PriorityKillHandler, default_retry_limit: 3 }
  YAML

  let(:dir) { Dir.mktmpdir("tasker-prio-kill") }
  let(:url) { SpecStore.isolated_url("prio_kill", dir) }
  let(:log) { File.join(dir, "started.log") }
  let(:template) { File.join(dir, "prio_kill.yaml").tap { |path| File.write(path, PRIORITY_KILL_TEMPLATE) } }

  before { skip "memory: keeps nothing across a restart" if SpecStore::KIND == "memory" }
  after { FileUtils.rm_rf(dir) }

  # Starts the child in `mode`; returns its pid and the line it said once ready.
  def spawn_child(mode)
    reader, writer = IO.pipe
    pid = Process.spawn(RbConfig.ruby, PRIORITY_KILL_CHILD, url, template, log, mode, out: writer)
    writer.close
    line = reader.wait_readable(120) && reader.gets
    raise "the #{mode} child did not start" unless line&.start_with?("ready")

    [pid, line]
  ensure
    reader&.close
  end

  it "starts the high-priority task first among those not yet queued, after a restart" do
    pid, = spawn_child("fill")
    Process.kill("KILL", pid)
    Process.wait2(pid)
    expect(File.readlines(log, chomp: true)).to eq(["blocker"])

    pid, ready = spawn_child("drain")
    _, status = Process.wait2(pid)
    expect(status.exitstatus).to eq(0)
    depth = Integer(ready.split[1])
    order = File.readlines(log, chomp: true).drop(1) - ["blocker"]
    expect(order.size).to eq(1001)
    expect(order.sort).to eq((["high"] + Array.new(1000) { |i| "low#{i}" }).sort)
    # The restarted worker's queue holds `depth` steps (two batches for its one thread):
    # at most those, handed out before the high task was, start before it. Without its
    # stored priority it would start 1,001st.
    expect(order.index("high")).to be <= depth
  end
end
