# frozen_string_literal: true

# A worker process for the shared-caps spec (spec/integration/shared_gate_spec.rb): starts a
# worker engine with 8 threads and a cap of 2 on CappedHandler on a shared PostgreSQL
# database, registers the template, says "ready" and runs claimed tasks until TERM. It
# drives at most 4 claimed tasks at once, so two of them share a backlog rather than one
# claiming it all. It must not check anything: the parent reads its log.
#
#   ruby capped_child.rb DATABASE_URL TEMPLATE_PATH LOG_PATH [early] [lease=SECONDS]
#
# With `early` the templates are registered by `Engine.start` itself, so the tasks its
# recovery takes are dispatched at once, before the claim loop's first round. `lease=` sets
# `lease_timeout` (default 3 s; the kill example uses a long one, so that only the dead-pid
# path can free a killed holder's slots).
#
# Every CappedHandler run appends "start pid task µs" when it begins and "end pid task µs"
# when it is done (CLOCK_REALTIME, one write per line, O_APPEND), so the parent can count how
# many ran at once across processes. The marks lie inside the time the step held its slot,
# so the count they give is never more than the true one. A task whose context names a
# "gate" file waits until that file exists first (the kill and stall examples keep slots
# held that way).

$LOAD_PATH.unshift File.expand_path("../../lib", __dir__)
Warning[:experimental] = false
require "tasker_core"

url, template_path, log_path, *flags = ARGV
early = flags.include?("early")
lease = Float(flags.grep(/\Alease=/).first&.delete_prefix("lease=") || 3)
LOG = File.open(log_path, File::WRONLY | File::APPEND | File::CREAT)
LOG.sync = true

# Marks its start and end around a short wait (or a wait for the gate file).
class CappedHandler < TaskerCore::BaseStepHandler
  def process(context)
    mark = ->(what) { LOG.write("#{what} #{Process.pid} #{context.task_id} #{Process.clock_gettime(Process::CLOCK_REALTIME, :microsecond)}\n") }
    mark.call("start")
    gate = context.task.context["gate"]
    sleep 0.02 until File.exist?(gate) if gate
    sleep 0.03
    mark.call("end")
    { "pid" => Process.pid }
  end
end

# One step per take (batch_size 1): a worker that took two gated steps at once would run the
# second only after the first, so a slot could be held by a step no thread runs yet.
engine = TaskerCore::Engine.start(templates: early ? template_path : nil, workers: 8, batch_size: 1, database_url: url, backoff_scale: 0.001,
                                  lease_timeout: lease, heartbeat_interval: 0.5, claim_interval: 0.2, max_tasks: 4,
                                  concurrency: { handlers: { "CappedHandler" => 2 } })
engine.register_templates(template_path) unless early
stop = Queue.new
Signal.trap("TERM") { stop << true }
$stdout.puts "ready"
$stdout.flush
stop.pop
engine.close(timeout: 10)
