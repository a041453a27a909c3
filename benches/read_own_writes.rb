# frozen_string_literal: true

# Submit, then read the task at once (`engine.task_state(id)`), one task at a time on
# PostgreSQL: the read commits the engine's held creation without waiting for the WAL flush
# (`CommitPending`), against the same with `engine.flush` before the read (what the read
# did before). WAL flushes per task are the server's `pg_stat_wal.wal_sync` delta (read 11 s
# after each round: a backend reports its counters up to 10 s late). The one-step template's
# handler sleeps 2 ms, so the task is still running when it is read. A warm-up round first.
#
#   ruby benches/read_own_writes.rb postgres://postgres@127.0.0.1:5432/DB [TASKS]
$LOAD_PATH.unshift File.expand_path("../gem/lib", __dir__)
require "tasker_core"
require "pg"

# The step's handler: still running when the task is read.
class ReadOwnWritesHandler < TaskerCore::BaseStepHandler
  def process(_context) = sleep(0.002)
end

url = ARGV.fetch(0)
tasks = Integer(ARGV.fetch(1, "300"))
pg = PG.connect(url)
wal_syncs = -> { pg.exec("SELECT wal_sync FROM pg_stat_wal").getvalue(0, 0).to_i }
percentile = ->(samples, q) { samples.sort[(samples.size * q).ceil - 1] }
engine = TaskerCore::Engine.start(workers: 2, database_url: url)
engine.register_template(<<~YAML, source: "benches/read_own_writes.rb")
  name: read_own_writes
  namespace_name: bench
  version: 1.0.0
  step_templates:
    - name: a
      handler_class: ReadOwnWritesHandler
YAML
%w[warm_up read flush_then_read read flush_then_read].each do |mode|
  sleep 11
  before = wal_syncs.call
  samples = Array.new(tasks) do
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    id = engine.submit_task("read_own_writes", {}, namespace: "bench")
    engine.flush if mode == "flush_then_read"
    raise "task #{id} not found right after submit" unless engine.task_state(id)

    elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
    engine.wait_for_task(id, timeout: 30)
    elapsed
  end
  sleep 11
  puts format("%-16s submit + read p50 %.3f ms, p90 %.3f ms; WAL flushes per task %.2f", mode,
              percentile.call(samples, 0.5) * 1e3, percentile.call(samples, 0.9) * 1e3,
              (wal_syncs.call - before).fdiv(tasks))
end
engine.stop
