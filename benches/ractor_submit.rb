# frozen_string_literal: true

# Issue 21, submitting from Ractors. Target (not an assertion): when building each task's
# context is CPU-bound Ruby (a parser, an importer), 2 Ractors submit at least 1.8× the tasks
# per second of 1 thread, each through the engine's shareable `engine.submitter`.
#
# One engine (`memory:`, no worker threads, so the tasks only queue), one template of one
# step; TASKS submissions per round split evenly over the producers; ROUNDS timed rounds
# after a warm-up round, each with a fresh engine.
#
#   ruby benches/ractor_submit.rb [--json PATH]

require_relative "support/bench_support"

module Bench
  # See the file comment.
  class RactorSubmit
    TASKS = 2_000
    ROUNDS = 5
    TARGET_BUILD_SECONDS = 0.0005

    # A context built the slow way: pure-Ruby arithmetic (about half a millisecond,
    # calibrated), then a Hash as an importer would produce from one record.
    # @return [Hash]
    def self.build_context(index, iterations)
      acc = 0
      i = 0
      while i < iterations
        acc = (acc + (i * i + index) % 7) % 1_000_003
        i += 1
      end
      { "record" => index, "checksum" => acc, "fields" => { "a" => index * 2, "b" => "row-#{index}" } }
    end

    def run
      iterations = calibrate
      setups = { "1 thread" => 1, "2 Ractors" => 2 }
      results = setups.to_h { |name, producers| [name, measure(producers, iterations)] }
      { "tasks" => TASKS, "rounds" => ROUNDS, "build_seconds" => @build_seconds, "iterations" => iterations,
        "setups" => results, "speedup" => results["2 Ractors"]["median"] / results["1 thread"]["median"] }
    end

    private

    def calibrate
      self.class.build_context(0, 100_000)
      took = Bench.time { self.class.build_context(1, 100_000) }
      iterations = (100_000 * TARGET_BUILD_SECONDS / took).round
      @build_seconds = Bench.median(Array.new(5) { |i| Bench.time { self.class.build_context(i, iterations) } })
      iterations
    end

    # Tasks per second with `producers` producers: 1 is a thread in the main Ractor (the
    # GVL's whole share), more are Ractors.
    def measure(producers, iterations)
      rates = Array.new(ROUNDS + 1) { round(producers, iterations) }.drop(1)
      Bench.rate_summary(rates)
    end

    def round(producers, iterations)
      engine = TaskerCore::Engine.start(workers: 0, database_url: "memory:", recover: false, instrument: false)
      engine.register_template("name: imported\nnamespace_name: bench\nstep_templates:\n  - { name: only, handler_class: Noop }\n",
                               source: "benches/ractor_submit.rb")
      submitter = engine.submitter
      share = TASKS / producers
      started = Bench.now
      if producers == 1
        Thread.new { submit(submitter, 0, share, iterations) }.join
      else
        ractors = Array.new(producers) do |p|
          Ractor.new(submitter, p * share, share, iterations) do |submitter, first, count, iterations|
            count.times do |k|
              submitter.submit_task("imported", Bench::RactorSubmit.build_context(first + k, iterations), namespace: "bench")
            end
            count
          end
        end
        ractors.each { |r| TaskerCore::RactorShim.value(r) }
      end
      rate = TASKS / (Bench.now - started)
      engine.flush
      submitted = engine.stats[:tasks_submitted]
      raise "expected #{TASKS} tasks, the engine took #{submitted}" unless submitted == TASKS

      rate
    ensure
      engine&.close
    end

    def submit(submitter, first, count, iterations)
      count.times do |k|
        submitter.submit_task("imported", self.class.build_context(first + k, iterations), namespace: "bench")
      end
    end
  end
end

if $PROGRAM_NAME == __FILE__
  TaskerCore::RactorShim.quiet_warnings
  results = Bench::RactorSubmit.new.run
  puts format("%d submissions per round, each context built in %.3f ms of Ruby:", results["tasks"],
              results["build_seconds"] * 1e3)
  results["setups"].each do |name, r|
    puts format("  %-10s %.0f tasks/s median (best %.0f)", name, r["median"], r["best"])
  end
  puts format("  2 Ractors vs 1 thread: %.2f×", results["speedup"])
  Bench.write_json(results)
end
