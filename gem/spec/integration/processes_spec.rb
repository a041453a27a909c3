# frozen_string_literal: true

require "rbconfig"

# Issue 16: engines in several processes sharing one PostgreSQL database. A client engine
# (a web process: role :client, no handlers) submits; three worker processes claim and run
# 1,000 tasks of a mixed fixture (a 4-step chain and a diamond); one worker is SIGKILLed and
# another SIGSTOPped past its lease mid-run. Every
# task completes, each worker ran some, the killed worker's tasks move on within the lease
# timeout plus 5 s, and no step whose completion was committed runs again.
RSpec.describe "Engines in several processes on one PostgreSQL database", :slow do
  include WorkerChildren

  # a -> (b, c) -> d: two steps of a task ready at once, possibly in two workers' threads.
  SHARED_DIAMOND = <<~YAML
    name: shared_diamond
    namespace_name: processes
    version: 1.0.0
    step_templates:
      - { name: a, handler_class: SharedChainHandler, default_retry_limit: 5 }
      - { name: b, handler_class: SharedChainHandler, default_retry_limit: 5, depends_on_step: a }
      - { name: c, handler_class: SharedChainHandler, default_retry_limit: 5, depends_on_step: a }
      - { name: d, handler_class: SharedChainHandler, default_retry_limit: 5, depends_on_steps: [b, c] }
  YAML
  LEASE = 3 # seconds, as worker_child.rb starts its engine

  before { skip "several processes share a PostgreSQL database only" unless SpecStore.postgres? }

  def now = Process.clock_gettime(Process::CLOCK_REALTIME, :microsecond)

  # [[pid, task_id, step, µs], …] from the workers' log.
  def executions(log)
    return [] unless File.exist?(log)

    File.readlines(log).map { |line| line.split.then { |p, t, s, at| [Integer(p), Integer(t), s, Integer(at)] } }
  end

  def wait_until(seconds)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
    sleep 0.05 until yield || Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
    yield
  end

  it "runs a client's tasks in worker processes and moves a dead or stalled worker's tasks to the others" do
    dir = Dir.mktmpdir("tasker-processes")
    three_workers_and_a_client(SpecStore.isolated_url("processes", dir), dir)
  end

  # The same, every engine connecting through PgBouncer in transaction pooling mode: no
  # session outlives a transaction, so nothing may rest on one (issue 16).
  it "does the same through PgBouncer in transaction pooling mode" do
    if (why = SpecPgBouncer.missing)
      raise "cannot start PgBouncer: #{why}" if ENV["CI"]

      skip "cannot start PgBouncer: #{why}"
    end
    database = "tasker_core_pgbouncer_spec"
    sql = "DROP DATABASE IF EXISTS #{database} WITH (FORCE)"
    ok = system("psql", SpecStore::PG_URL, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql, "-c", "CREATE DATABASE #{database}", out: File::NULL)
    raise "could not create #{database} with psql" unless ok

    server = URI.parse(SpecStore::PG_URL.sub(/\Apostgres(ql)?:/, "http:"))
    bouncer = SpecPgBouncer.new(host: server.host || "127.0.0.1", server_port: server.port || 5432).start
    begin
      three_workers_and_a_client(bouncer.url(database), Dir.mktmpdir("tasker-processes"))
    rescue RSpec::Expectations::ExpectationNotMetError, StandardError
      warn "PgBouncer's log:\n#{bouncer.log}"
      raise
    ensure
      stop_engines
      bouncer.stop
    end
  end

  def three_workers_and_a_client(url, dir)
    template = File.join(dir, "templates")
    Dir.mkdir(template)
    File.write(File.join(template, "shared_chain.yaml"), WorkerChildren::SHARED_CHAIN)
    File.write(File.join(template, "shared_diamond.yaml"), SHARED_DIAMOND)
    log = File.join(dir, "executions.log")
    pids = Array.new(3) { spawn_worker(url, template, log) }
    begin
      client = start_engine(templates: template, workers: 0, database_url: url, role: :client)
      ids = Array.new(1000) do |i|
        client.submit_task(i.even? ? "shared_chain" : "shared_diamond", { "i" => i }, namespace: "processes")
      end
      client.flush

      # Kill one worker once every worker has run something and work remains.
      started = wait_until(60) { executions(log).map(&:first).uniq.size == 3 }
      expect(started).to be(true), "not every worker ran a step: #{executions(log).map(&:first).tally}"
      # Every engine is in the process table, with what it can run.
      # (Capacity is published with the heartbeat after the pools start.)
      processes = nil
      wait_until(30) do
        processes = TaskerCore::Insights::Processes.all(engine: client)
        processes.select { |p| p.role == "worker" }.map(&:capacity) == [2, 2, 2]
      end
      workers = processes.select { |p| p.role == "worker" }
      expect(workers.map(&:pid)).to match_array(pids)
      expect(workers.map(&:capacity)).to all(eq(2))
      expect(processes.map(&:role).tally).to eq("worker" => 3, "client" => 1)
      expect(processes).to all(have_attributes(alive: true))
      expect(client.metrics_text).to include('tasker_core_processes{role="worker",alive="true"} 3')

      victim, stalled = pids
      Process.kill("KILL", victim)
      Process.wait(victim)
      killed_at = now
      # Gone from this host: dead at once, before its lease runs out.
      expect(TaskerCore::Insights::Processes.all(engine: client).find { |p| p.pid == victim }.alive).to be(false)
      held = executions(log).select { |p, *| p == victim }.map { |_, t, *| t }.uniq

      # Stall another past its lease; its tasks move on, and its late writes are refused.
      Process.kill("STOP", stalled)
      sleep LEASE + 2
      Process.kill("CONT", stalled)

      ids.each do |id|
        expect(client.wait_for_task(id, timeout: 120).state).to eq("complete"), "task #{id}"
      end

      runs = executions(log)
      ran = runs.map(&:first).tally
      expect(ran.keys).to include(*pids), "every worker ran some steps: #{ran}"

      # The killed worker's unfinished tasks were taken over within the lease timeout + 5 s.
      unfinished = held.reject { |t| runs.any? { |p, task, step, at| p == victim && task == t && step == "d" && at < killed_at } }
      takeovers = unfinished.filter_map do |t|
        runs.select { |p, task, _, at| task == t && p != victim && at > killed_at }.map(&:last).min
      end
      expect(takeovers.size).to eq(unfinished.size)
      expect((takeovers.max - killed_at) / 1e6).to be <= LEASE + 5 if takeovers.any?

      # No completed step ran again: a step that ran twice was interrupted (an
      # engine_restart or a lost claim's handed-back attempt), and each step completed once.
      by_step = runs.group_by { |_, t, s, _| [t, s] }
      ids.each do |id|
        task = client.task(id)
        expect(task.steps.map(&:current_state).uniq).to eq(["complete"])
        task.steps.each do |step|
          completions = step.state_transitions.count { |tr| tr.to_state == "complete" }
          expect(completions).to eq(1), "task #{id} step #{step.name} completed #{completions} times"
          count = by_step.fetch([id, step.name], []).size
          expect(count).to be >= 1
        end
      end
    ensure
      pids.each do |pid|
        Process.kill("TERM", pid)
      rescue Errno::ESRCH
        nil
      end
      pids.each do |pid|
        Process.wait(pid)
      rescue Errno::ECHILD
        nil
      end
    end
  end

  it "starts a client from role: :client alone, and refuses one given handler threads" do
    url = SpecStore.isolated_url("processes_client_defaults", Dir.mktmpdir("tasker-processes"))
    client = TaskerCore::Engine.start(database_url: url, role: :client, recover: false, instrument: false)
    (@engines ||= []) << client
    expect(TaskerCore::Insights::Processes.all(engine: client).map(&:role)).to eq(["client"])
    expect { TaskerCore::Engine.start(database_url: url, role: :client, workers: 2) }
      .to raise_error(TaskerCore::ValidationError, /role: :client runs no handlers.*workers: 2/)
  end

  it "leaves a client's recovery to the workers, and a step it retries to a worker" do
    dir = Dir.mktmpdir("tasker-processes")
    url = SpecStore.isolated_url("processes_client", dir)
    template = File.join(dir, "shared_chain.yaml")
    File.write(template, WorkerChildren::SHARED_CHAIN.gsub("default_retry_limit: 5", "default_retry_limit: 1"))
    log = File.join(dir, "executions.log")
    client = engine_with_template(File.read(template), source: "shared_chain.yaml", database_url: url, role: :client)
    # Submitted before any worker runs: unfinished, unclaimed.
    ids = Array.new(3) { |i| client.submit_task("shared_chain", { "i" => i, "fail" => File.join(dir, "broken") }, namespace: "processes") }
    client.flush
    # A second client starting with recover: true (the default) takes none of them.
    other = start_engine(templates: nil, workers: 0, database_url: url, role: :client, recover: true)
    expect(TaskerCore::Insights::Processes.all(engine: other).sum(&:claimed_tasks)).to eq(0)

    File.write(File.join(dir, "broken"), "")
    pid = spawn_worker(url, template, log)
    begin
      states = ids.map { |id| client.wait_for_task(id, timeout: 60).state }
      expect(states).to all(eq("error"))
      # The client retries the failed step; a worker runs it.
      File.delete(File.join(dir, "broken"))
      ids.each do |id|
        failed = client.task(id).steps.find { |s| s.current_state == "error" }
        expect(failed).not_to be_nil, "task #{id}: #{client.task(id).steps.map { |s| [s.name, s.current_state] }}"
        failed.reset_for_retry!(new_retry_limit: 2, reason: "fixed")
      end
      expect(ids.map { |id| client.wait_for_task(id, timeout: 60).state }).to all(eq("complete"))
      expect(TaskerCore::Insights::Processes.all(engine: client).find { |p| p.role == "client" && p.pid == Process.pid }
        .claimed_tasks).to eq(0)
    ensure
      Process.kill("TERM", pid)
      Process.wait(pid)
    end
  end
end
