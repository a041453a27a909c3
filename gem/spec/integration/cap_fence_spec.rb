# frozen_string_literal: true

# The lease fence on shared cap slots (crates/engine/src/gate/fence.rs; README, "Concurrency
# limits"), end to end on PostgreSQL: once the last read of the slots this process holds has
# lapsed, a read that fails pulls the capped steps queued for workers, not yet taken, back
# into the gate, where they wait for a read that succeeds. The read is made to fail by
# renaming the slot table in this spec's own schema (a real failure of the real statement,
# not a mock); renaming it back lets the steps out again.
# It must not test caps across processes (shared_gate_spec.rb does).
RSpec.describe "The cap fence's pull-back" do
  before { skip "caps are shared (and fenced) on PostgreSQL only" unless SpecStore.postgres? }

  # PostgreSQL only, where isolated_url's directory is not used.
  let(:url) { SpecStore.isolated_url("cap_fence", Dir.tmpdir) }
  # The spec's lease: the fence trusts a read for at most 0.8 of it.
  let(:lease) { 2.0 }

  def psql(sql)
    ok = system("psql", url, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql, out: File::NULL)
    raise "psql failed: #{sql}" unless ok
  end

  def wait_until(seconds, what)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
    until yield
      raise "#{what}: not within #{seconds} s" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.01
    end
  end

  it "pulls queued capped steps back after a failed read once the last read lapsed, and lets them out after a good one" do
    # No handler threads: what the gate lets out stays queued, where the pull-back acts.
    engine = start_engine(templates: nil, workers: 0, database_url: url, lease_timeout: lease, heartbeat_interval: 0.5,
                          concurrency: { handlers: { "FenceSpecHandler" => 3 } })
    engine.register_template(<<~YAML, source: "fenced.yaml")
      name: fenced
      step_templates:
        - { name: only, handler_class: FenceSpecHandler }
    YAML
    queued = -> { engine.stats[:steps_queued] }
    2.times { engine.submit_task("fenced", {}) }
    wait_until(30, "two capped steps queued") { queued.call == 2 }
    # Let the read that let them out lapse (it is trusted for less than the lease), with no
    # capped step popped from the gate meanwhile, so no read is asked for.
    sleep lease + 0.5
    psql("ALTER TABLE tasker_core_cap_slots RENAME TO tasker_core_cap_slots_away")
    begin
      # A capped step popped from the gate asks for the read, which fails: the two queued
      # steps go back to wait, and the new one waits with them.
      engine.submit_task("fenced", {})
      wait_until(30, "the queued steps pulled back") { queued.call.zero? }
      expect(engine.native.take_steps(8, 0)).to be_empty
    ensure
      psql("ALTER TABLE tasker_core_cap_slots_away RENAME TO tasker_core_cap_slots")
    end
    # The next read (after the fence's short wait) succeeds: all three go out.
    wait_until(30, "the steps let out again") { queued.call == 3 }
  end
end
