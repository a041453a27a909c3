# frozen_string_literal: true

require "rbconfig"

# Issue 13, item 1: recovery must not depend on the order of start and registration. A
# child process runs the mixed fixture with `Engine.start` (which recovers) before its
# template is registered — the order many scripts use — and is killed mid-work; each restart
# must still resume every unfinished task, with the usual restart semantics.
RSpec.describe "Recovery when templates are registered after start", :slow do
  LATE_REGISTRATION_CHILD = File.expand_path("../bin/crash_child.rb", __dir__)
  LATE_REGISTRATION_TASKS = 80

  def run_child(url, dir, kill_after: nil)
    out_r, out_w = IO.pipe
    err = File.join(dir, "stderr.log")
    pid = Process.spawn({ "LATE_REGISTRATION" => "1", "CHILD_DEADLINE" => "60" }, RbConfig.ruby, LATE_REGISTRATION_CHILD,
                        url, dir, LATE_REGISTRATION_TASKS.to_s, out: out_w, err: [err, "a"])
    out_w.close
    first = out_r.wait_readable(60) && out_r.gets
    if kill_after
      sleep kill_after if first
      Process.kill("KILL", pid)
    end
    _, status = Process.wait2(pid)
    [status, first.to_s + out_r.read.to_s]
  ensure
    out_r&.close
  end

  it "resumes the tasks a killed process left once their template is registered, and logs them" do
    skip "needs a durable store" if SpecStore::KIND == "memory"
    dir = Dir.mktmpdir("tasker-late")
    url = SpecStore.isolated_url("late", dir)
    # Two kills mid-work: the second start finds unfinished tasks from the first.
    2.times do |i|
      status, = run_child(url, dir, kill_after: 0.4 + 0.2 * i)
      expect(status.termsig).to eq(9)
    end
    status, out = run_child(url, dir)
    expect(status.exitstatus).to eq(0), "child: #{out}\n#{File.read(File.join(dir, 'stderr.log'))}"
    expect(out).to include("all finished")
    # Registration resumed what start had parked.
    expect(out[/awaiting (\d+), then (\d+)/, 1].to_i).to be > 0
    expect(out[/awaiting (\d+), then (\d+)/, 2].to_i).to eq(0)
    log = File.read(File.join(dir, "stderr.log"))
    expect(log).to match(%r{unfinished task\(s\) wait for template fixtures/mixed@\S+ to be registered \(task ids \d+})
    expect(log).to match(%r{resumed \d+ unfinished task\(s\) of fixtures/mixed@\S+ now that it is registered})

    engine = start_engine(templates: nil, workers: 0, database_url: url)
    engine.register_template(File.read(File.join(FIXTURES, "templates/patterns/mixed.yaml")), source: "mixed.yaml")
    ids = File.read(File.join(dir, "ids")).split.map { |id| Integer(id) }
    expect(ids.size).to eq(LATE_REGISTRATION_TASKS)
    restarts = 0
    ids.each do |id|
      task = engine.task(id)
      expect(task.current_state).to eq("complete"), "task #{id} is #{task.current_state}"
      restarts += task.steps.sum { |s| s.state_transitions.count { |t| t.reason == "engine_restart" } }
    end
    # The kills caught steps in flight, and those ran again under the restart rules.
    expect(restarts).to be > 0
  ensure
    FileUtils.rm_rf(dir) if dir
  end
end
