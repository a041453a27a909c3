# frozen_string_literal: true

# Issue 8, Insights. Target (not an assertion): `SystemHealthCounts.current` ≤ 10 µs.
#
# An engine on a SQLite file holding 200 finished tasks (2,000 steps, some failed), 4 worker
# threads. Measured in the same run: `SystemHealthCounts.current` (the live counters, a Ruby
# object built from them), the bare native call under it, and, as the baseline,
# `SystemHealthCounts.from_store` (the same counts by one SQL query). benchmark-ips,
# 1 s warm-up, 3 s per measurement.
#
#   ruby benches/insights.rb [--json PATH]

require_relative "support/bench_support"
require "benchmark/ips"
require "tmpdir"

module Bench
  # See the file comment.
  class Insights
    TASKS = 200

    def run
      Dir.mktmpdir("tasker-insights-bench") do |dir|
        engine = TaskerCore::Engine.start(templates: File.join(ROOT, "fixtures/templates"), workers: 4,
                                          database_url: "sqlite://#{dir}/bench.sqlite3", backoff_scale: 0.001,
                                          instrument: false)
        fill(engine)
        results = measure(engine)
        engine.close
        results
      end
    end

    private

    def fill(engine)
      ids = Array.new(TASKS) do |i|
        name = i.even? ? "wide" : "mixed"
        engine.submit_task(name, {}, namespace: "fixtures")
      end
      ids.each { |id| engine.wait_for_task(id, timeout: 120) }
      engine.flush
    end

    def measure(engine)
      health = TaskerCore::Insights::SystemHealthCounts
      report = Benchmark.ips(quiet: true) do |x|
        x.config(warmup: 1, time: 3)
        x.report("SystemHealthCounts.current") { health.current(engine: engine) }
        x.report("native.health") { engine.native.health }
        x.report("SystemHealthCounts.from_store") { health.from_store(engine: engine) }
      end
      per_call = report.entries.to_h { |e| [e.label, 1.0 / e.stats.central_tendency] }
      current = health.current(engine: engine)
      { "tasks" => current.total_tasks, "steps" => current.total_steps, "per_call_seconds" => per_call }
    end
  end
end

if $PROGRAM_NAME == __FILE__
  results = Bench::Insights.new.run
  puts "#{results['tasks']} tasks, #{results['steps']} steps in the store"
  results["per_call_seconds"].each { |label, s| puts format("  %-32s %10.2f µs", label, s * 1e6) }
  Bench.write_json(results)
end
