# frozen_string_literal: true

# Issue 2, "end-to-end throughput": steps per second for the 10,000-step generated template
# (fixtures/generated_templates.rb, no-op handlers) on 1 and 4 Ruby worker threads, target
# ≥ 100,000 steps/s; and, in the same run, the plain-Ruby executor
# (support/plain_executor.rb) on the same DAG with the same handlers, as the baseline.
#
# One repetition of tasker-core is `submit_task` → `native.wait_for_task` (the task's final
# state, without building a TaskResult). Repetitions of the two executors alternate so both
# see the same machine; one untimed warm-up run of each comes first. Afterwards the time
# the store then needs to apply everything (`flush`) is measured apart.
#
#   ruby benches/throughput.rb [--json PATH]

require_relative "support/bench_support"
require_relative "support/plain_executor"

module Bench
  # Times whole-task runs; see the file comment.
  class Throughput
    STEPS = 10_000
    REPETITIONS = 15
    WORKER_COUNTS = [1, 4].freeze
    BATCH_SIZE = 16

    def initialize
      @yaml = Fixtures::GeneratedTemplates.layered(steps: STEPS)
      @name = "generated_#{STEPS}"
      @plain = PlainExecutor.new(@yaml)
    end

    # @return [Hash] JSON-ready results
    def run
      runs = WORKER_COUNTS.to_h { |workers| [workers.to_s, measure(workers)] }
      { "steps" => STEPS, "repetitions" => REPETITIONS, "batch_size" => BATCH_SIZE, "runs" => runs }
    end

    private

    def measure(workers)
      engine = TaskerCore::Engine.start(workers: workers, batch_size: BATCH_SIZE, database_url: "memory:")
      engine.register_template(@yaml, source: "fixtures/generated_templates.rb")
      tasker = []
      plain = []
      flush = []
      (REPETITIONS + 1).times do |rep|
        seconds, flush_seconds = tasker_run(engine)
        plain_seconds = plain_run(workers)
        next if rep.zero?

        tasker << STEPS / seconds
        plain << STEPS / plain_seconds
        flush << flush_seconds
      end
      { "tasker_steps_per_second" => Bench.rate_summary(tasker),
        "plain_steps_per_second" => Bench.rate_summary(plain),
        "flush_seconds_after_wait" => Bench.summary(flush),
        "engine_stats" => engine.stats.transform_keys(&:to_s) }
    ensure
      engine&.stop
    end

    def tasker_run(engine)
      native = engine.native
      started = Bench.now
      task_id = engine.submit_task(@name, {}, namespace: "generated")
      state = native.wait_for_task(task_id, 120)
      seconds = Bench.now - started
      raise "task #{task_id} ended #{state.inspect}, expected complete" unless state == "complete"

      [seconds, Bench.time { engine.flush(timeout: 60) }]
    end

    def plain_run(threads)
      ran = nil
      seconds = Bench.time { ran = @plain.run(threads: threads) }
      raise "the plain executor ran #{ran} of #{STEPS} steps" unless ran == STEPS

      seconds
    end
  end
end

if $PROGRAM_NAME == __FILE__
  results = Bench::Throughput.new.run
  puts "#{results['steps']}-step template, #{results['repetitions']} repetitions: steps/s best / median"
  results["runs"].each do |workers, r|
    t = r["tasker_steps_per_second"]
    p = r["plain_steps_per_second"]
    puts format("  %s worker(s): tasker-core %9s / %-9s plain Ruby %9s / %-9s ratio (median) %.2f", workers,
                Bench.format_rate(t["best"]), Bench.format_rate(t["median"]), Bench.format_rate(p["best"]),
                Bench.format_rate(p["median"]), t["median"] / p["median"])
  end
  Bench.write_json(results)
end
