# frozen_string_literal: true

# A worker process for benches/processes.rb (issue 16): a worker-role engine on a shared
# PostgreSQL database that runs the bench's 4-step chain until TERM, then prints how many
# steps it ran.
#
#   ruby process_worker.rb DATABASE_URL TEMPLATE_PATH WORKERS SLEEP_MS [LOG_PATH]
#
# With LOG_PATH every handler run appends "pid task_id realtime_µs" (the failover bench).

ROOT = File.expand_path("../..", __dir__)
$LOAD_PATH.unshift(File.join(ROOT, "gem/lib"))
Warning[:experimental] = false
require "tasker_core"

url, template, workers, sleep_ms, log_path = ARGV
SLEEP = Float(sleep_ms) / 1000
LOG = log_path && File.open(log_path, File::WRONLY | File::APPEND | File::CREAT).tap { |f| f.sync = true }
RAN = Queue.new

# Counts its runs; sleeps when the bench asks for slow steps; logs for the failover bench.
class ProcessBenchHandler < TaskerCore::BaseStepHandler
  def process(context)
    LOG&.write("#{Process.pid} #{context.task_id} #{Process.clock_gettime(Process::CLOCK_REALTIME, :microsecond)}\n")
    sleep SLEEP if SLEEP.positive?
    RAN << 1
    nil
  end
end

engine = TaskerCore::Engine.start(templates: template, workers: Integer(workers), database_url: url,
                                  lease_timeout: 3, heartbeat_interval: 0.5, claim_interval: 0.2)
stop = Queue.new
Signal.trap("TERM") { stop << true }
$stdout.puts "ready"
$stdout.flush
stop.pop
engine.close(timeout: 10)
$stdout.puts "ran #{RAN.size}"
