# frozen_string_literal: true

# Issue 17, item 6: a long-running process on the in-process store (`memory:`) with retention
# on stays flat. Without retention the store keeps every finished task (about 2.3 GB after
# 1,000,000 steps); with `retention:` the engine's thread deletes the tasks that finished
# longer ago than that, and the memory follows the work retained, not the work done.
#
# The run: an engine with 4 worker threads on `memory:` and retention (default 2 s, checked
# every 0.5 s); tasks of 10 independent no-op steps submitted in waves of 1,000 and waited
# for, until 1,000,000 steps ran. Every 50,000 steps: RSS (VmRSS, after a full GC), the tasks
# the store holds (live health counts) and what retention deleted so far. Growth is counted
# from the reading at 100,000 steps (the allocators and Ruby's heaps reach their working
# size before it). `--no-retention` runs the same without retention, for the contrast.
#
#   ruby benches/retention_memory.rb [--steps N] [--retention S] [--no-retention] [--json PATH]

require_relative "support/bench_support"

module Bench
  # See the file comment.
  class RetentionMemory
    STEPS_PER_TASK = 10
    WAVE = 1_000
    REPORT_EVERY = 50_000
    WARM = 100_000

    def self.from_argv(argv)
      steps = (i = argv.index("--steps")) ? Integer(argv.fetch(i + 1)) : 1_000_000
      retention = (i = argv.index("--retention")) ? Float(argv.fetch(i + 1)) : 2.0
      retention = nil if argv.include?("--no-retention")
      new(steps: steps, retention: retention).run
    end

    def initialize(steps:, retention:)
      @steps = steps
      @retention = retention
    end

    def rss_mb
      GC.start
      File.read("/proc/self/status")[/VmRSS:\s+(\d+)/, 1].to_i / 1024.0
    end

    def run
      options = { database_url: "memory:", workers: 4, recover: false, instrument: false }
      options.merge!(retention: @retention, retention_interval: [@retention / 4, 0.5].min) if @retention
      engine = TaskerCore::Engine.start(**options)
      engine.register_template(Bench.wide_template(name: "retained", steps: STEPS_PER_TASK), source: "retained.yaml")
      puts "retention_memory: #{@steps} steps on memory:, retention #{@retention ? "#{@retention} s" : 'off'}"
      readings = [reading(engine, 0, Bench.now)]
      print_reading(readings.last)
      started = Bench.now
      done = 0
      next_report = REPORT_EVERY
      while done < @steps
        ids = Array.new(WAVE) { engine.submit_task("retained", {}, namespace: "bench") }
        ids.each { |id| engine.wait_for_task(id, timeout: 60) }
        done += WAVE * STEPS_PER_TASK
        next unless done >= next_report || done >= @steps

        next_report += REPORT_EVERY
        readings << reading(engine, done, started)
        print_reading(readings.last)
      end
      engine.close(timeout: 10)
      summarize(readings)
    end

    def reading(engine, steps, started)
      health = TaskerCore::Insights::SystemHealthCounts.current(engine: engine)
      { "steps" => steps, "seconds" => (Bench.now - started).round(2), "rss_mb" => rss_mb.round(1),
        "tasks_held" => health.total_tasks, "deleted_tasks" => engine.retention_stats[:deleted_tasks] }
    end

    def print_reading(r)
      puts format("  %9d steps  %7.1f s  RSS %8.1f MB  tasks held %8d  deleted %8d",
                  r["steps"], r["seconds"], r["rss_mb"], r["tasks_held"], r["deleted_tasks"])
    end

    def summarize(readings)
      warm = readings.find { |r| r["steps"] >= WARM } || readings.first
      last = readings.last
      peak = readings.map { |r| r["rss_mb"] }.max
      result = { "steps" => last["steps"], "retention_seconds" => @retention, "rss_start_mb" => readings.first["rss_mb"],
                 "rss_warm_mb" => warm["rss_mb"], "rss_end_mb" => last["rss_mb"], "rss_peak_mb" => peak,
                 "growth_after_warm_mb" => (last["rss_mb"] - warm["rss_mb"]).round(1),
                 "steps_per_second" => (last["steps"] / last["seconds"]).round, "readings" => readings }
      puts format("RSS %.1f MB at %d steps -> %.1f MB at %d steps (%+.1f MB), peak %.1f MB; %d steps/s",
                  warm["rss_mb"], warm["steps"], last["rss_mb"], last["steps"], result["growth_after_warm_mb"], peak,
                  result["steps_per_second"])
      Bench.write_json(result)
      result
    end
  end
end

Bench::RetentionMemory.from_argv(ARGV) if $PROGRAM_NAME == __FILE__
