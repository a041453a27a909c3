# frozen_string_literal: true

# A worker process for the multi-process spec (spec/integration/processes_spec.rb): starts a
# worker engine on a shared PostgreSQL database, then registers the template (the order
# many apps use), says "ready" on stdout and runs claimed tasks until TERM.
#
#   ruby worker_child.rb DATABASE_URL TEMPLATE_PATH LOG_PATH   (TEMPLATE_PATH: a file or a directory)
#
# Every handler run appends "pid task_id step_name monotonic_µs" to LOG_PATH (one write per
# line, O_APPEND) before it does its work, so the parent sees which process ran what, when.

$LOAD_PATH.unshift File.expand_path("../../lib", __dir__)
Warning[:experimental] = false
require "tasker_core"

url, template_path, log_path = ARGV
LOG = File.open(log_path, File::WRONLY | File::APPEND | File::CREAT)
LOG.sync = true

# Records which process ran the step, then does a little work.
class SharedChainHandler < TaskerCore::BaseStepHandler
  def process(context)
    now = Process.clock_gettime(Process::CLOCK_REALTIME, :microsecond)
    LOG.write("#{Process.pid} #{context.task_id} #{context.step_name} #{now}\n")
    # The client spec breaks the handler with a file and mends it by deleting the file.
    flag = context.task.context["fail"]
    raise TaskerCore::PermanentError, "broken" if flag && File.exist?(flag)
    sleep 0.01
    { "pid" => Process.pid }
  end
end

engine = TaskerCore::Engine.start(templates: nil, workers: 2, database_url: url, backoff_scale: 0.001,
                                  lease_timeout: 3, heartbeat_interval: 0.5, claim_interval: 0.5)
engine.register_templates(template_path) # a file or a directory of them
stop = Queue.new
Signal.trap("TERM") { stop << true }
$stdout.puts "ready"
$stdout.flush
stop.pop
engine.close(timeout: 10)
