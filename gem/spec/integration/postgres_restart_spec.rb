# frozen_string_literal: true

# Issue 16: PostgreSQL restarted mid-run (`pg_ctl restart -m fast`, which ends every session):
# the engines reconnect with backoff and finish, and nothing is lost or run twice. Two worker
# processes and a client engine, on a server of the spec's own (spec/support/private_postgres.rb).
RSpec.describe "A PostgreSQL restart in the middle of a run", :slow do
  include WorkerChildren

  before do
    skip "the restart test runs in the PostgreSQL run" unless SpecStore.postgres?
    if (why = PrivatePostgres.missing)
      raise "cannot start a private PostgreSQL server: #{why}" if ENV["CI"]

      skip "cannot start a private PostgreSQL server: #{why}"
    end
  end

  def steps_run(log) = File.exist?(log) ? File.readlines(log).size : 0

  it "finishes every task after the server restarts, each step completed once" do
    server = PrivatePostgres.new.start
    dir = Dir.mktmpdir("tasker-restart")
    template = File.join(dir, "shared_chain.yaml")
    File.write(template, WorkerChildren::SHARED_CHAIN)
    log = File.join(dir, "executions.log")
    url = server.url
    pids = []
    client = engine_with_template(WorkerChildren::SHARED_CHAIN, source: "shared_chain.yaml", database_url: url,
                                  role: :client)
    pids = Array.new(2) { spawn_worker(url, template, log) }
    ids = Array.new(300) { |i| client.submit_task("shared_chain", { "i" => i }, namespace: "processes") }
    client.flush

    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 60
    sleep 0.05 until steps_run(log) >= 200 || Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
    before_restart = steps_run(log)
    expect(before_restart).to be_between(200, 1100), "the restart should land mid-run (#{before_restart} of 1,200 steps ran)"
    server.restart

    ids.each do |id|
      expect(client.wait_for_task(id, timeout: 180).state).to eq("complete"), "task #{id}"
    end
    expect(pids.map { |pid| Process.waitpid(pid, Process::WNOHANG) }).to all(be_nil), "a worker exited during the restart"

    ids.each do |id|
      client.task(id).steps.each do |step|
        completions = step.state_transitions.count { |tr| tr.to_state == "complete" }
        expect(completions).to eq(1), "task #{id} step #{step.name} completed #{completions} times"
      end
    end
    pids.each { |pid| Process.kill("TERM", pid) }
    statuses = pids.map { |pid| Process.wait2(pid).last }
    pids = []
    expect(statuses.map(&:exitstatus)).to all(eq(0))
  ensure
    pids&.each do |pid|
      Process.kill("KILL", pid)
      Process.wait(pid)
    rescue Errno::ESRCH, Errno::ECHILD
      nil
    end
    stop_engines
    server&.stop
  end
end
