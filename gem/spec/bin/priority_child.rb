# frozen_string_literal: true

# The kill -9 priority spec's worker process (spec/integration/priority_kill_spec.rb), on a
# store of its own (an SQLite file or a PostgreSQL schema):
#
#   ruby priority_child.rb DATABASE_URL TEMPLATE_PATH LOG_PATH fill|drain
#
# `fill`: starts a worker engine with one thread, whose first step ("blocker") hangs, so
# every task submitted after it waits: 1,000 low-priority tasks, then one of priority 10
# (durable: every submission before it is stored too); says "ready" and hangs until the
# parent kills it with SIGKILL. `drain`: starts the way a restarted worker does
# (`Engine.start` with the templates, recovering what the killed one left), runs every
# step and exits once all 1,002 tasks are finished. Every handler run appends its task's
# label to LOG_PATH (one write per line, O_APPEND) before doing anything else, so the
# parent reads the order in which steps started.

$LOAD_PATH.unshift File.expand_path("../../lib", __dir__)
Warning[:experimental] = false
require "tasker_core"

url, template_path, log_path, mode = ARGV
LOG = File.open(log_path, File::WRONLY | File::APPEND | File::CREAT)
LOG.sync = true
HANG = mode == "fill"

# Logs its label; the blocker hangs in the `fill` run.
class PriorityKillHandler < TaskerCore::BaseStepHandler
  def process(context)
    label = context.task_context["label"]
    LOG.write("#{label}\n")
    sleep if HANG && label == "blocker"
    { "ok" => true }
  end
end

settings = { database_url: url, workers: 1, batch_size: 16, backoff_scale: 0.001, lease_timeout: 3,
             heartbeat_interval: 0.5, claim_interval: 0.2 }
if HANG
  engine = TaskerCore::Engine.start(templates: nil, recover: false, **settings)
  engine.register_templates(template_path)
  engine.submit_task("prio_kill", { "label" => "blocker" }, namespace: "prio_kill", durable: true)
  sleep 0.01 until File.size(log_path).positive?
  1000.times { |i| engine.submit_task("prio_kill", { "label" => "low#{i}" }, namespace: "prio_kill") }
  engine.submit_task("prio_kill", { "label" => "high" }, namespace: "prio_kill", priority: 10, durable: true)
  $stdout.puts "ready"
  $stdout.flush
  sleep
else
  engine = TaskerCore::Engine.start(templates: template_path, **settings)
  $stdout.puts "ready #{engine.pool.queue_depth}"
  $stdout.flush
  deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 300
  sleep 0.05 until File.readlines(log_path).uniq.size >= 1002 || Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
  engine.close(timeout: 10)
end
