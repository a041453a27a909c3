# frozen_string_literal: true

# The crash test's child process: runs the mixed fixture's tasks on an SQLite store until
# they are all finished. The parent kills it with SIGKILL at random moments and starts it
# again; every start recovers what the last one left.
#
#   ruby child.rb DATABASE_PATH LOG_PATH TASK_COUNT
#
# Every handler run appends "task_id step_name start_µs" to LOG_PATH (one write per line,
# O_APPEND) before it does its work, so the parent can see every execution, including the
# ones a kill cut short.

$LOAD_PATH.unshift File.expand_path("../../lib", __dir__)
Warning[:experimental] = false
require "tasker_core"

db_path, log_path, count = ARGV
count = Integer(count)
LOG = File.open(log_path, File::WRONLY | File::APPEND | File::CREAT)
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
engine = TaskerCore::Engine.start(database_url: "sqlite://#{db_path}", workers: 4, batch_size: 2,
                                  backoff_scale: 0.01, recover: false)
engine.register_template(template, source: "mixed.yaml")
report = engine.recover
$stdout.puts "recovered #{report[:resumed]}"
$stdout.flush

# The ids submitted by the first run, so later runs know what to wait for.
ids_path = "#{db_path}.ids"
unless File.exist?(ids_path)
  ids = Array.new(count) { |i| engine.submit_task("mixed", { "n" => i }, namespace: "fixtures") }
  engine.flush
  File.write("#{ids_path}.tmp", ids.join("\n"))
  File.rename("#{ids_path}.tmp", ids_path)
end
ids = File.read(ids_path).split.map { |id| Integer(id) }

until ids.all? { |id| %w[complete error].include?(engine.native.task_summary(id)&.fetch("state")) }
  sleep 0.1
end
engine.stop(timeout: 10)
$stdout.puts "all finished"
