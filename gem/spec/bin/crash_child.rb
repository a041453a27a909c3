# frozen_string_literal: true

# The crash test's child process: runs the mixed fixture's tasks on a store (an SQLite file
# or a PostgreSQL schema) until they are all finished. The parent kills it with SIGKILL at
# random moments and starts it again; every start recovers what the last one left.
#
#   ruby crash_child.rb DATABASE_URL STATE_DIR TASK_COUNT
#
# With LATE_REGISTRATION=1 it starts the engine the way many scripts do — `Engine.start`
# (which recovers) first, the template registered afterwards — and logs to stderr.
#
# Every handler run appends "task_id step_name start_µs" to STATE_DIR/executions.log (one
# write per line, O_APPEND) before it does its work, so the parent can see every execution,
# including the ones a kill cut short. STATE_DIR/ids lists the tasks the first run submitted.

$LOAD_PATH.unshift File.expand_path("../../lib", __dir__)
Warning[:experimental] = false
require "tasker_core"

url, state_dir, count = ARGV
count = Integer(count)
LOG = File.open(File.join(state_dir, "executions.log"), File::WRONLY | File::APPEND | File::CREAT)
LOG.sync = true

# Records each execution, then does a little work.
class CrashRecordingHandler < TaskerCore::BaseStepHandler
  def process(context)
    now = Process.clock_gettime(Process::CLOCK_REALTIME, :microsecond)
    LOG.write("#{context.task_id} #{context.step_name} #{now}\n")
    sleep 0.015
    { "step" => context.step_name }
  end
end

# Every kill counts an attempt against each step a worker had taken (by design: the handler
# may have run), so ten kills could exhaust the fixture's default retry limit of 3; the
# test gives the steps room, and small batches keep fewer steps taken at any moment.
template = File.read(File.expand_path("../../../fixtures/templates/patterns/mixed.yaml", __dir__))
               .gsub("Fixtures::RecordingHandler", "CrashRecordingHandler")
               .gsub("    handler_class: CrashRecordingHandler", "    handler_class: CrashRecordingHandler\n    default_retry_limit: 12")
if ENV["LATE_REGISTRATION"] == "1"
  require "logger"
  $stderr.sync = true
  engine = TaskerCore::Engine.start(database_url: url, workers: 4, batch_size: 2, backoff_scale: 0.01,
                                    logger: Logger.new($stderr))
  awaiting = engine.awaiting_templates.values.sum(&:size)
  engine.register_template(template, source: "mixed.yaml")
  $stdout.puts "awaiting #{awaiting}, then #{engine.awaiting_templates.values.sum(&:size)}"
else
  # No handler threads until the tasks are submitted and written down (below): the parent
  # times its kill from the first handler run, and a kill before the ids file exists would
  # have the next run submit a second set of tasks, leaving the first set's restarts uncounted.
  engine = TaskerCore::Engine.start(database_url: url, workers: 0, backoff_scale: 0.01, recover: false)
  engine.register_template(template, source: "mixed.yaml")
  report = engine.recover
  $stdout.puts "recovered #{report[:resumed]}"
end
$stdout.flush

# The ids submitted by the first run, so later runs know what to wait for. Durable
# submissions: an id is written down only once its task is stored.
ids_path = File.join(state_dir, "ids")
unless File.exist?(ids_path)
  ids = Array.new(count) { |i| engine.submit_task("mixed", { "n" => i }, namespace: "fixtures", durable: i == count - 1) }
  engine.flush
  File.write("#{ids_path}.tmp", ids.join("\n"))
  File.rename("#{ids_path}.tmp", ids_path)
end
ids = File.read(ids_path).split.map { |id| Integer(id) }
engine.start_pool(workers: 4, batch_size: 2) unless ENV["LATE_REGISTRATION"] == "1"

deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + Float(ENV.fetch("CHILD_DEADLINE", "600"))
until ids.all? { |id| %w[complete error].include?(engine.native.task_summary(id)&.fetch("state")) }
  if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
    $stdout.puts "gave up: unfinished tasks remain"
    exit! 3
  end
  sleep 0.1
end
engine.stop(timeout: 10)
$stdout.puts "all finished"
