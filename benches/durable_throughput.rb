# frozen_string_literal: true

# Issue 3, "end-to-end throughput, durable": steps per second for the 10,000-step generated
# template (fixtures/generated_templates.rb, no-op handlers) on 1 and 4 Ruby worker threads,
# with the tasks in an SQLite file (target ≥ 50,000 steps/s) and in PostgreSQL (target
# ≥ 20,000 steps/s); in the same run the in-process store (`memory:`) as the baseline.
#
# One repetition is `submit_task` → `native.wait_for_task` returning "complete", on the
# wall clock. That wait returns once the batch that finished the task is committed, so a
# durable repetition includes writing the whole task; the `flush` measured afterwards (apart,
# not in the steps/s) shows that nothing was left to write.
#
# Per worker count and backend, one engine on a store of its own (a fresh SQLite file, a
# fresh PostgreSQL schema; see support/durable_stores.rb), the template registered once, one
# untimed warm-up, the repetitions, then the engine is closed before the next one starts: each
# engine runs alone, as in an app (idle engines beside it, and taking turns between engines,
# both measurably slowed small tasks). Each repetition also records how many store batches
# (transactions) and changes the task took; how long `register_template` of the 10,000-step
# template took on each store is recorded too.
#
#   ruby benches/durable_throughput.rb [--json PATH]

require_relative "support/bench_support"
require_relative "support/durable_stores"

module Bench
  # Times whole-task runs on each store; see the file comment.
  class DurableThroughput
    STEPS = 10_000
    REPETITIONS = 7
    WORKER_COUNTS = [1, 4].freeze
    BATCH_SIZE = 16
    WAIT_TIMEOUT = 300

    def initialize
      @yaml = Fixtures::GeneratedTemplates.layered(steps: STEPS)
      @name = "generated_#{STEPS}"
    end

    # @return [Hash] JSON-ready results
    def run
      stores = DurableStores.new("durable_throughput")
      runs = WORKER_COUNTS.to_h { |workers| [workers.to_s, measure(workers, stores)] }
      { "steps" => STEPS, "repetitions" => REPETITIONS, "batch_size" => BATCH_SIZE,
        "backends" => DurableStores::BACKENDS, "postgres_skipped" => stores.postgres_skipped,
        "sqlite_file_system" => stores.sqlite_file_system, "runs" => runs }
    ensure
      stores&.cleanup
    end

    private

    # @return [Hash] backend => results (or {"skipped" => why})
    def measure(workers, stores)
      DurableStores::BACKENDS.to_h do |backend|
        url = stores.url(backend)
        [backend, url ? measure_one(workers, url) : { "skipped" => stores.postgres_skipped }]
      end
    end

    def measure_one(workers, url)
      engine = TaskerCore::Engine.start(workers: workers, batch_size: BATCH_SIZE, database_url: url, recover: false)
      register = Bench.time { engine.register_template(@yaml, source: "fixtures/generated_templates.rb") }
      one_run(engine) # warm-up
      runs = Array.new(REPETITIONS) { one_run(engine) }
      { "steps_per_second" => Bench.rate_summary(runs.map { |r| STEPS / r["seconds"] }),
        "flush_seconds_after_wait" => Bench.summary(runs.map { |r| r["flush_seconds"] }),
        "store_batches_per_task" => Bench.summary(runs.map { |r| r["store_batches"] }),
        "store_changes_per_task" => Bench.summary(runs.map { |r| r["store_changes"] }),
        "register_template_seconds" => register,
        "database_url" => engine.database_url }
    ensure
      engine&.close
    end

    def one_run(engine)
      native = engine.native
      before = engine.stats
      started = Bench.now
      task_id = engine.submit_task(@name, {}, namespace: "generated")
      state = native.wait_for_task(task_id, WAIT_TIMEOUT)
      seconds = Bench.now - started
      raise "task #{task_id} ended #{state.inspect} on #{engine.database_url}, expected complete" unless state == "complete"

      flush = Bench.time { engine.flush(timeout: 60) }
      after = engine.stats
      failed = after[:store_failed_batches] - before[:store_failed_batches]
      raise "#{engine.database_url}: #{failed} store batches failed" if failed.positive?

      { "seconds" => seconds, "flush_seconds" => flush,
        "store_batches" => after[:store_batches] - before[:store_batches],
        "store_changes" => after[:store_changes] - before[:store_changes] }
    end
  end
end

if $PROGRAM_NAME == __FILE__
  results = Bench::DurableThroughput.new.run
  puts "#{results['steps']}-step template, #{results['repetitions']} repetitions: steps/s best / median " \
       "(store batches per task, median)"
  results["runs"].each do |workers, backends|
    backends.each do |backend, r|
      if r["skipped"]
        puts format("  %s worker(s), %-8s SKIPPED: %s", workers, backend, r["skipped"])
        next
      end
      t = r["steps_per_second"]
      puts format("  %s worker(s), %-8s %9s / %-9s (%d batches)", workers, backend, Bench.format_rate(t["best"]),
                  Bench.format_rate(t["median"]), r["store_batches_per_task"]["median"])
    end
  end
  Bench.write_json(results)
end
