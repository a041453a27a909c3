# frozen_string_literal: true

# Issue 3, "latency, durable": how long one small task takes from `submit_task` to its
# completion, on each store. Targets: p50 ≤ 1 ms on an SQLite file, ≤ 2 ms on PostgreSQL;
# the in-process store (`memory:`) is measured in the same run as the baseline.
#
# The task is fixtures/templates/patterns/linear.yaml (4 steps in a chain) with its handler
# replaced by Fixtures::NoopHandler, so what is timed is the engine and the store. One
# sample is `submit_task` → `native.wait_for_task` returning "complete", which happens once
# the batch that finished the task is committed. Samples are sequential (one task at a
# time). One engine per backend, 2 worker threads, on a store of its own; the engines run
# one after the other, each alone in the process (in trials, idle engines beside it and
# taking turns between engines both raised the p50 of every store). Warm-up, then the
# samples. Percentiles are nearest-rank.
#
#   ruby benches/durable_latency.rb [--json PATH]

require_relative "support/bench_support"
require_relative "support/durable_stores"

module Bench
  # Times one small task at a time on each store; see the file comment.
  class DurableLatency
    TEMPLATE = File.join(ROOT, "fixtures/templates/patterns/linear.yaml")
    WORKERS = 2
    WARM_UP = 100
    SAMPLES = 1_000
    WAIT_TIMEOUT = 30

    def initialize
      source = File.read(TEMPLATE)
      @yaml = source.gsub("Fixtures::RecordingHandler", "Fixtures::NoopHandler")
      @steps = @yaml.scan("handler_class: Fixtures::NoopHandler").size
      raise "#{TEMPLATE} no longer uses Fixtures::RecordingHandler on every step" if @yaml == source || @steps.zero?
    end

    # @return [Hash] JSON-ready results
    def run
      stores = DurableStores.new("durable_latency")
      results = DurableStores::BACKENDS.to_h do |backend|
        url = stores.url(backend)
        [backend, url ? measure(url) : { "skipped" => stores.postgres_skipped }]
      end
      { "template" => "fixtures/templates/patterns/linear.yaml", "steps" => @steps, "workers" => WORKERS,
        "warm_up" => WARM_UP, "samples" => SAMPLES, "backends" => DurableStores::BACKENDS,
        "postgres_skipped" => stores.postgres_skipped, "sqlite_file_system" => stores.sqlite_file_system,
        "results" => results }
    ensure
      stores&.cleanup
    end

    private

    def measure(url)
      engine = TaskerCore::Engine.start(workers: WORKERS, batch_size: 16, database_url: url, recover: false)
      engine.register_template(@yaml, source: "#{TEMPLATE} (handlers replaced by Fixtures::NoopHandler)")
      WARM_UP.times { one_task(engine) }
      before = engine.stats
      samples = Array.new(SAMPLES) { one_task(engine) }
      after = engine.stats
      latency_summary(samples).merge(
        "store_batches_per_task" => (after[:store_batches] - before[:store_batches]).fdiv(SAMPLES),
        "store_changes_per_task" => (after[:store_changes] - before[:store_changes]).fdiv(SAMPLES),
        "database_url" => engine.database_url
      )
    ensure
      engine&.close
    end

    # Seconds from submit to completion of one task.
    def one_task(engine)
      started = Bench.now
      task_id = engine.submit_task("linear", {}, namespace: "fixtures")
      state = engine.native.wait_for_task(task_id, WAIT_TIMEOUT)
      seconds = Bench.now - started
      raise "task #{task_id} ended #{state.inspect} on #{engine.database_url}, expected complete" unless state == "complete"

      seconds
    end

    def latency_summary(values)
      sorted = values.sort
      rank = ->(q) { sorted[[(q * sorted.size).ceil - 1, 0].max] }
      { "p50" => rank.(0.50), "p90" => rank.(0.90), "p99" => rank.(0.99), "min" => sorted.first, "max" => sorted.last,
        "mean" => sorted.sum / sorted.size }
    end
  end
end

if $PROGRAM_NAME == __FILE__
  results = Bench::DurableLatency.new.run
  puts "#{results['steps']}-step linear task, #{results['workers']} workers, #{results['samples']} samples per store " \
       "after #{results['warm_up']} warm-up: p50 / p90 / p99 / max"
  ms = ->(s) { format("%.3f ms", s * 1e3) }
  results["results"].each do |backend, r|
    if r["skipped"]
      puts format("  %-8s SKIPPED: %s", backend, r["skipped"])
      next
    end
    puts format("  %-8s %s / %s / %s / %s (%.1f store batches per task)", backend, ms.(r["p50"]), ms.(r["p90"]),
                ms.(r["p99"]), ms.(r["max"]), r["store_batches_per_task"])
  end
  Bench.write_json(results)
end
