# frozen_string_literal: true

# Issue 15's two figures for one checkout, quick enough to alternate two builds in one
# session (A/B) where the full workload bench (benches/workload.rb) takes many minutes:
# one 4-step chain at a time, submitted then read back with `wait_for_task` (p50 and p90
# of SAMPLES, and the store batches per task), then 2,000 chains submitted at once and
# each read back (steps/s). Each run uses a store of its own: a new PostgreSQL schema
# (dropped at the end) or a new SQLite file.
#
#   for i in 1 2 3; do for c in ../base .; do
#     ruby benches/chain_ab.rb $c postgres://postgres@127.0.0.1:5432/test
#   done; done
#
# ARGV[0]: the checkout whose gem/lib (and built extension) to load; ARGV[1]: a PostgreSQL
# server URL, `sqlite`, or `memory` (no I/O: what is left is the hand-offs between threads). Knobs: SAMPLES (default 500), TASKS (2,000; 0 skips the tasks at
# once), WARMUP (200), PRE (0: rounds of TASKS chains at once, each read back, run before the
# one-at-a-time samples, as benches/workload.rb runs its serial part after its tasks at once;
# `PRE=12` is about its 24,000 tasks; PRE needs TASKS > 0), STATS_WAIT (11 s: the wait for the
# server's counts, each side of the samples; 0 when only timing), INDEXES (1: per index counts,
# below), PG_SCHEMA and FILL (a kept, filled schema: below). On PostgreSQL it also prints, per one-at-a-time task,
# the transactions the server committed, the rows it returned and the buffer pages it touched
# (`pg_stat_database` of the URL's database: use a database nobody else works in; a read
# transaction counts as a commit too): a count that grows with PRE is work that grows with the
# work done (docs/benchmarks.md, "Why the full run's fresh PostgreSQL rows…"). For counting what a task costs with an outside tool rather than
# timing it (docs/benchmarks.md, "A fourth round"):
#
#   WARMUP=300 SAMPLES=1000 TASKS=0 strace -f -c ruby benches/chain_ab.rb . sqlite
#   # per task: the counts divided by WARMUP + SAMPLES
#
# A filled SQLite store (issue 15's "after 1,000,000 tasks"): SQLITE_FILE=path with `sqlite`
# runs on a copy of that file (made next to it, synced before the engine opens it, deleted at
# the end), so one fill serves every run and every run starts from the same file. When the
# file is missing it is made first: an engine registers the template and closes, then
# benches/support/workload_fill.rb writes SQLITE_FILL finished chain tasks (default
# 1,000,000; about 2.5 min and 3.4 GB on a quiet machine) and syncs them, as
# benches/workload.rb's after_fill does (docs/benchmarks.md, "After 1,000,000 tasks on
# SQLite, counted"). THREADS=1 prints, per thread, what it did per task (below).
#
#   SQLITE_FILE=/work/data/filled.sqlite3 ruby benches/chain_ab.rb . sqlite
require "tmpdir"
require "fileutils"
root = File.expand_path(ARGV.fetch(0))
$LOAD_PATH.unshift File.join(root, "gem/lib")
require "tasker_core"
require File.join(root, "fixtures/handlers/recording")
local = %w[sqlite memory].include?(ARGV.fetch(1))
require "pg" unless local

samples = Integer(ENV.fetch("SAMPLES", "500"))
tasks = Integer(ENV.fetch("TASKS", "2000"))
warmup = Integer(ENV.fetch("WARMUP", "200"))
pre = Integer(ENV.fetch("PRE", "0"))
filled = ARGV[1] == "sqlite" && ENV["SQLITE_FILE"]
dir = filled ? Dir.mktmpdir("chain_ab", File.dirname(File.expand_path(filled))) : Dir.mktmpdir("chain_ab")
# PG_SCHEMA=name: run in that schema (created when missing) and keep it, so a store filled
# once is measured again without refilling; FILL=n fills a schema this run created with n
# finished chain tasks first (benches/support/workload_fill.rb, as benches/workload.rb does:
# no ANALYZE, a CHECKPOINT after). Each run adds its own few thousand tasks.
schema = ENV.fetch("PG_SCHEMA", "chain_ab_#{Process.pid}")
created = false
template = File.read(File.join(root, "fixtures/templates/patterns/linear.yaml"))
               .gsub("Fixtures::RecordingHandler", "Fixtures::NoopHandler")
if filled
  unless File.exist?(filled)
    module Bench
      def self.now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end
    require File.join(__dir__, "support/workload_fill")
    TaskerCore::Engine.start(database_url: "sqlite://#{filled}")
                      .tap { |e| e.register_template(template, source: "linear.yaml") }.close
    fill = Bench::WorkloadFill.new("sqlite://#{filled}")
                              .fill(Integer(ENV.fetch("SQLITE_FILL", "1000000")),
                                    template: "linear", namespace: "fixtures")
    warn format("chain_ab: filled %s with %d tasks in %.1f s (synced in %.1f s)", filled, fill["tasks"],
                fill["seconds"], fill["settle_seconds"])
  end
  # A copy, synced: the run adds its tasks to the copy and the file stays as filled.
  FileUtils.cp(filled, File.join(dir, "chain_ab.sqlite3"))
  File.open(File.join(dir, "chain_ab.sqlite3")) { |f| f.fsync }
end
url = if ARGV[1] == "memory"
        "memory:"
      elsif ARGV[1] == "sqlite"
        "sqlite://#{dir}/chain_ab.sqlite3"
      else
        PG.connect(ARGV[1]).tap do |c|
          created = c.exec_params("SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema]).ntuples.zero?
          c.exec("CREATE SCHEMA #{schema}") if created
        end.close
        "#{ARGV[1]}#{ARGV[1].include?('?') ? '&' : '?'}options=-csearch_path%3D#{schema}"
      end
start = lambda do
  TaskerCore::Engine.start(workers: 4, batch_size: 16, database_url: url, instrument: false)
    .tap { |e| e.register_template(template, source: "linear.yaml") }
end
if created && ENV["FILL"] && ENV["PG_SCHEMA"]
  module Bench; def self.now = Process.clock_gettime(Process::CLOCK_MONOTONIC); end
  require File.join(root, "benches/support/workload_fill")
  start.call.close
  fill = Bench::WorkloadFill.new(url).fill(Integer(ENV["FILL"]), template: "linear", namespace: "fixtures")
  warn format("chain_ab: filled %s with %d tasks in %.1f s (+%.1f s CHECKPOINT)", schema, fill["tasks"],
              fill["seconds"], fill["settle_seconds"])
end
engine = start.call
begin
  # The first health reading waits for the stored counts the engine makes after start (a read
  # of every stored task and step, in a read snapshot of its own: seconds at 1,000,000 tasks,
  # on one of the 2 cores), as benches/workload.rb waits before it measures; otherwise a
  # filled store's count runs beside the measurements, and on SQLite the WAL cannot be
  # checkpointed past its snapshot meanwhile.
  engine.native.health
  run = -> { engine.submit_task("linear", {}, namespace: "fixtures") }
  warmup.times { engine.wait_for_task(run.call) }
  mono = -> { Process.clock_gettime(Process::CLOCK_MONOTONIC) }

  pre.times do
    ids = Array.new(tasks) { run.call }
    ids.each { |id| raise "not complete" unless engine.wait_for_task(id).complete? }
  end
  # Transactions committed, rows returned and buffer pages touched (hit or read) in the URL's
  # database: what the server did per task, a count that a shared machine's load does not blur
  # as it blurs time. A busy backend publishes its counts at most once a second and an idle
  # one holds the rest back up to 10 s (PostgreSQL 15), so each side waits that out.
  counts = lambda do
    next [0, 0, 0] if local

    sleep Float(ENV.fetch("STATS_WAIT", "11"))
    PG.connect(ARGV[1]).then do |c|
      c.exec("SELECT xact_commit, tup_returned, blks_hit + blks_read FROM pg_stat_database " \
             "WHERE datname = current_database()").values.first.map(&:to_i)
    ensure
      c.close
    end
  end
  # INDEXES=1: also per index of the run's schema, entries read and pages touched per task
  # (which statement's work grows with the table shows there first).
  by_index = lambda do
    next {} unless ENV["INDEXES"] == "1" && !local

    PG.connect(ARGV[1]).then do |c|
      c.exec("SELECT s.indexrelname, s.idx_tup_read, io.idx_blks_hit + io.idx_blks_read " \
             "FROM pg_stat_all_indexes s JOIN pg_statio_all_indexes io USING (indexrelid) " \
             "WHERE s.schemaname = '#{schema}'").values.to_h { |n, r, p| [n, [r.to_i, p.to_i]] }
    ensure
      c.close
    end
  end
  # THREADS=1: per thread name, per task, over the one-at-a-time samples and over the tasks
  # at once: read and write syscalls and bytes written (/proc task io: pread64 and pwrite64
  # count there, and so do eventfd wake-ups), bytes read from the disk, and CPU time
  # (schedstat). The counts hold on a loaded machine; the CPU time does not (the writer's per
  # task varied 2× between runs of the same store at load 5-6).
  threads = lambda do
    Dir.glob("/proc/self/task/*").each_with_object(Hash.new { |h, k| h[k] = [0, 0, 0, 0, 0] }) do |t, acc|
      # sqlx's SQLite connection threads (one per connection: the writer, the checkpointer,
      # the readers) share one truncated name: told apart by thread id.
      name = File.read("#{t}/comm").strip.sub(/[-_]?\d+\z/, "")
      name = "#{name}##{File.basename(t)}" if name.start_with?("sqlx")
      io = File.read("#{t}/io").lines.to_h { |l| k, v = l.split(":"); [k, v.to_i] }
      row = acc[name]
      row[0] += File.read("#{t}/schedstat").split[0].to_i
      row[1] += io["syscr"]
      row[2] += io["syscw"]
      row[3] += io["wchar"]
      row[4] += io["read_bytes"] # read from the disk, not the kernel's page cache
    rescue Errno::ENOENT, Errno::ESRCH
      next
    end
  end
  print_threads = lambda do |label, before, n|
    next unless ENV["THREADS"] == "1"

    threads.call.each do |name, now|
      d = now.zip(before.fetch(name, [0, 0, 0, 0, 0])).map { |a, b| (a - b).fdiv(n) }
      next if d.all?(&:zero?)

      puts format("  %-10s %-24s %8.1f µs CPU %6.2f reads %6.2f writes %8.0f bytes written " \
                  "%6.0f read from disk per task", label, name, d[0] / 1e3, d[1], d[2], d[3], d[4])
    end
  end
  counts_before = counts.call
  threads_before = threads.call
  index_before = by_index.call
  batches = engine.stats[:store_batches]
  latencies = Array.new(samples) do
    started = mono.call
    raise "not complete" unless engine.wait_for_task(run.call).complete?

    mono.call - started
  end.sort
  per_task = (engine.stats[:store_batches] - batches).fdiv(samples)
  # The counting connections' own transactions (one each side) are left in: 2 of samples.
  commits, rows_per_task, pages = counts.call.zip(counts_before).map { |a, b| (a - b).fdiv(samples) }
  by_index.call.map { |name, (read, touched)| [name, (read - index_before.fetch(name, [0, 0])[0]).fdiv(samples),
                                               (touched - index_before.fetch(name, [0, 0])[1]).fdiv(samples)] }
          .then { |rows| (rows.max_by(12) { |_, _, touched| touched } + rows.max_by(4) { |_, read, _| read }).uniq }
          .each { |name, read, touched| puts format("  %-55s %8.1f entries read %6.1f pages per task", name, read, touched) }

  print_threads.call("one", threads_before, samples)
  threads_before = threads.call
  started = mono.call
  ids = Array.new(tasks) { run.call }
  ids.each { |id| raise "not complete" unless engine.wait_for_task(id).complete? }
  rate = tasks.zero? ? 0 : tasks * 4 / (mono.call - started)
  print_threads.call("at once", threads_before, tasks) if tasks.positive?

  puts format("%s %s: one at a time p50 %.2f ms p90 %.2f ms (%.2f store batches/task%s; after %d tasks); " \
              "%d at once %d steps/s; load %s",
              root, local ? "#{ARGV[1]}#{filled ? " (a copy of #{filled})" : ''}" : "postgres",
              latencies[samples / 2] * 1e3,
              latencies[samples * 9 / 10] * 1e3, per_task,
              local ? "" : format(", server per task: %.2f commits, %.0f rows returned, %.0f buffer pages",
                                                commits, rows_per_task, pages),
              warmup + pre * tasks, tasks, rate, File.read("/proc/loadavg").split[0, 3].join(" "))
ensure
  engine.close
  unless local || ENV["PG_SCHEMA"]
    PG.connect(ARGV[1]).tap { |c| c.exec("SET client_min_messages = warning; DROP SCHEMA #{schema} CASCADE") }.close
  end
  FileUtils.rm_rf(dir)
end
