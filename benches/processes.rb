# frozen_string_literal: true

# Issue 16: engines in several processes on one PostgreSQL database.
#
# - Throughput: a client engine (role :client, the web process) submits TASKS small 4-step
#   tasks (no-op handlers) at once; 1, 2 and 3 worker processes (4 handler threads each)
#   claim and run them; timed from the first submission until the store says every task is
#   complete (one count query every 20 ms). Beside it, in the same run, the single-process
#   path: one worker engine that submits the same tasks itself and waits for each.
# - Failover: 2 workers run slow steps (20 ms); one is SIGKILLed (found dead at once: same
#   host, its pid gone) or SIGSTOPped (alive to the host: found dead when its lease, 3 s,
#   runs out). Measured: from the signal to the first step of one of its tasks run by the
#   other worker.
#
#   ruby benches/processes.rb [--json PATH]     (TASKER_BENCH_PROCESS_TASKS, default 2000)

require_relative "support/bench_support"
require_relative "support/durable_stores"
require "pg"
require "tmpdir"

# The single-process path runs the chain in this process: the same no-op handler.
class ProcessBenchHandler < TaskerCore::BaseStepHandler
  def process(_context) = nil
end

module ProcessesBench
  TASKS = Integer(ENV.fetch("TASKER_BENCH_PROCESS_TASKS", "2000"))
  WORKER = File.expand_path("support/process_worker.rb", __dir__)
  THREADS = 4
  LEASE = 3
  TEMPLATE = <<~YAML
    name: process_chain
    namespace_name: bench
    version: 1.0.0
    step_templates:
      - { name: a, handler_class: ProcessBenchHandler }
      - { name: b, handler_class: ProcessBenchHandler, depends_on_step: a }
      - { name: c, handler_class: ProcessBenchHandler, depends_on_step: b }
      - { name: d, handler_class: ProcessBenchHandler, depends_on_step: c }
  YAML

  module_function

  def spawn_worker(url, template, sleep_ms: 0, log: nil)
    reader, writer = IO.pipe
    pid = Process.spawn(RbConfig.ruby, WORKER, url, template, THREADS.to_s, sleep_ms.to_s, *log, out: writer)
    writer.close
    raise "worker #{pid} did not start" unless reader.wait_readable(120) && reader.gets == "ready\n"

    [pid, reader]
  end

  # Stops a worker; returns the steps it ran.
  def stop_worker(pid, reader)
    Process.kill("TERM", pid)
    out = reader.read
    Process.wait(pid)
    out[/ran (\d+)/, 1].to_i
  ensure
    reader.close
  end

  def complete_count(pg) = pg.exec("SELECT count(*) FROM tasker_tasks WHERE complete").getvalue(0, 0).to_i

  def client(url)
    engine = TaskerCore::Engine.start(templates: nil, workers: 0, database_url: url, role: :client, recover: false)
    engine.register_template(TEMPLATE, source: "process_chain.yaml")
    engine
  end

  # Steps/s with `n` worker processes, and each worker's share of the steps.
  def throughput(stores, dir, n)
    url = stores.postgres_url
    template = File.join(dir, "process_chain.yaml")
    File.write(template, TEMPLATE)
    workers = Array.new(n) { spawn_worker(url, template) }
    engine = client(url)
    pg = PG.connect(url)
    started = Bench.now
    TASKS.times { |i| engine.submit_task("process_chain", { "i" => i }, namespace: "bench") }
    engine.flush
    sleep 0.02 until complete_count(pg) == TASKS
    seconds = Bench.now - started
    ran = workers.map { |pid, reader| stop_worker(pid, reader) }
    { "workers" => n, "seconds" => seconds, "steps_per_second" => TASKS * 4 / seconds, "steps_by_worker" => ran }
  ensure
    pg&.close
    engine&.close(timeout: 10)
  end

  # The single-process path on the same database: one engine submits and runs.
  def single_process(stores)
    url = stores.postgres_url
    engine = TaskerCore::Engine.start(templates: nil, workers: THREADS, database_url: url)
    engine.register_template(TEMPLATE, source: "process_chain.yaml")
    started = Bench.now
    ids = Array.new(TASKS) { |i| engine.submit_task("process_chain", { "i" => i }, namespace: "bench") }
    ids.each { |id| engine.wait_for_task(id, timeout: 300) }
    seconds = Bench.now - started
    { "seconds" => seconds, "steps_per_second" => TASKS * 4 / seconds }
  ensure
    engine&.close(timeout: 10)
  end

  # Seconds from `signal` to the first step of the victim's tasks run by the other worker.
  def failover(stores, dir, signal)
    url = stores.postgres_url
    template = File.join(dir, "process_chain.yaml")
    File.write(template, TEMPLATE)
    log = File.join(dir, "failover-#{signal}-#{Process.clock_gettime(Process::CLOCK_MONOTONIC, :nanosecond)}.log")
    workers = Array.new(2) { spawn_worker(url, template, sleep_ms: 20, log: log) }
    engine = client(url)
    200.times { |i| engine.submit_task("process_chain", { "i" => i }, namespace: "bench") }
    engine.flush
    victim = workers.first.first
    sleep 0.05 until File.exist?(log) && File.readlines(log).map { |l| l.split.first.to_i }.uniq.size == 2
    pg = PG.connect(url)
    signalled = Process.clock_gettime(Process::CLOCK_REALTIME, :microsecond)
    Process.kill(signal, victim)
    # What the victim held at the signal, from the claims table.
    held = pg.exec_params("SELECT c.task_id FROM tasker_core_task_claims c JOIN tasker_core_processes p " \
                          "ON p.id = c.owner WHERE p.pid = $1", [victim]).column_values(0).map(&:to_i)
    lines = -> { File.readlines(log).map { |l| l.split.map(&:to_i) } }
    taken = nil
    deadline = Bench.now + 60
    until taken || Bench.now > deadline
      sleep 0.02
      taken = lines.call.select { |pid, t, at| pid != victim && at > signalled && held.include?(t) }.map(&:last).min
    end
    Process.kill("CONT", victim) if signal == "STOP"
    taken && (taken - signalled) / 1e6
  ensure
    pg&.close
    engine&.close(timeout: 10)
    workers&.each do |pid, reader|
      Process.kill("KILL", pid)
      Process.wait(pid)
      reader.close
    rescue Errno::ESRCH, Errno::ECHILD
      nil
    end
  end

  def run(json_path)
    stores = Bench::DurableStores.new("processes")
    dir = Dir.mktmpdir("tasker-processes-bench")
    unless stores.postgres_url
      puts "SKIPPED: #{stores.postgres_skipped}"
      File.write(json_path, JSON.pretty_generate({ "skipped" => stores.postgres_skipped })) if json_path
      return
    end
    result = { "tasks" => TASKS, "threads_per_worker" => THREADS, "lease_timeout" => LEASE, "cores" => Etc.nprocessors }
    result["single_process"] = single_process(stores)
    puts format("single process (submits and runs): %.0f steps/s", result["single_process"]["steps_per_second"])
    result["processes"] = [1, 2, 3].map do |n|
      r = throughput(stores, dir, n)
      puts format("%d worker process(es): %.0f steps/s, steps by worker %s", n, r["steps_per_second"], r["steps_by_worker"])
      r
    end
    result["failover"] = { "killed" => failover(stores, dir, "KILL"), "stalled" => failover(stores, dir, "STOP") }
    puts "failover: killed #{result['failover']['killed']&.round(2).inspect} s, " \
         "stalled past its lease #{result['failover']['stalled']&.round(2).inspect} s"
    File.write(json_path, JSON.pretty_generate(result)) if json_path
  ensure
    stores&.cleanup
    FileUtils.rm_rf(dir) if dir
  end
end

require "etc"
ProcessesBench.run(ARGV[ARGV.index("--json") + 1]) if $PROGRAM_NAME == __FILE__ && ARGV.include?("--json")
ProcessesBench.run(nil) if $PROGRAM_NAME == __FILE__ && !ARGV.include?("--json")
