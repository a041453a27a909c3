# frozen_string_literal: true

# Issue 5, Ractor-parallel handlers. Target (not an assertion): a workflow of 200
# independent CPU-bound steps (pure Ruby, about 5 ms each) runs at least 1.8× as fast on 2
# Ractors as on 1 thread. Also 2 threads (the GVL lets one run at a time), and the per-step
# overhead of each path with no-op handlers.
#
# One engine per set-up (`memory:`), each alone in the process; the template is registered
# once; one untimed warm-up task, then ROUNDS timed tasks (submit → wait_for_task).
#
#   ruby benches/ractors.rb [--json PATH]

require_relative "support/bench_support"

module Bench
  # Handlers for this bench: plain classes with no state, so they pass the Ractor check.
  module RactorBench
    # About 5 ms of pure-Ruby arithmetic on this machine (calibrated once per run).
    class Burn < TaskerCore::BaseStepHandler
      def process(context)
        n = context.task_context.fetch("iterations")
        acc = 0
        i = 0
        while i < n
          acc = (acc + (i * i) % 7) % 1_000_003
          i += 1
        end
        { "acc" => acc }
      end
    end

    # Does nothing.
    class Noop < TaskerCore::BaseStepHandler
      def process(_context) = nil
    end
  end

  # See the file comment.
  class Ractors
    STEPS = 200
    NOOP_STEPS = 2_000
    ROUNDS = 5
    TARGET_STEP_SECONDS = 0.005

    def run
      iterations = calibrate
      setups = { "1 thread" => { workers: 1, ractors: 0, execution: "thread" },
                 "2 threads" => { workers: 2, ractors: 0, execution: "thread" },
                 "2 Ractors" => { workers: 0, ractors: 2, execution: "ractor" } }
      cpu = setups.to_h { |name, s| [name, measure(s, "Bench::RactorBench::Burn", STEPS, { "iterations" => iterations })] }
      noop = { "1 thread" => setups["1 thread"], "1 Ractor" => { workers: 0, ractors: 1, execution: "ractor" } }
                 .to_h { |name, s| [name, measure(s, "Bench::RactorBench::Noop", NOOP_STEPS, {})] }
      { "steps" => STEPS, "iterations" => iterations, "step_seconds" => @step_seconds, "cpu" => cpu,
        "noop_steps" => NOOP_STEPS, "noop" => noop, "rounds" => ROUNDS,
        "speedup" => cpu["1 thread"]["median"] / cpu["2 Ractors"]["median"] }
    end

    private

    # Iterations of Burn that take about 5 ms here.
    def calibrate
      context = Struct.new(:task_context).new({ "iterations" => 100_000 })
      handler = RactorBench::Burn.new
      handler.process(context)
      took = Bench.time { handler.process(context) }
      iterations = (100_000 * TARGET_STEP_SECONDS / took).round
      context.task_context["iterations"] = iterations
      @step_seconds = Bench.median(Array.new(5) { Bench.time { handler.process(context) } })
      iterations
    end

    def measure(setup, handler, steps, context)
      engine = TaskerCore::Engine.start(workers: setup[:workers], ractors: setup[:ractors], database_url: "memory:",
                                        recover: false, instrument: false)
      lines = ["name: bench_#{setup[:execution]}", "namespace_name: bench", "step_templates:"]
      steps.times { |i| lines << "  - { name: s#{i}, handler_class: #{handler}, execution: #{setup[:execution]} }" }
      engine.register_template("#{lines.join("\n")}\n", source: "benches/ractors.rb")
      one = lambda do
        started = Bench.now
        id = engine.submit_task("bench_#{setup[:execution]}", context, namespace: "bench")
        state = engine.native.wait_for_task(id, 300)
        raise "task ended #{state}" unless state == "complete"

        Bench.now - started
      end
      one.call
      times = Array.new(ROUNDS) { one.call }
      Bench.summary(times).merge("per_step" => Bench.median(times) / steps)
    ensure
      engine&.close
    end
  end
end

if $PROGRAM_NAME == __FILE__
  results = Bench::Ractors.new.run
  puts format("%d CPU-bound steps of %.2f ms each (%d iterations):", results["steps"], results["step_seconds"] * 1e3,
              results["iterations"])
  results["cpu"].each { |name, r| puts format("  %-10s %.3f s median (best %.3f s)", name, r["median"], r["best"]) }
  puts format("  2 Ractors vs 1 thread: %.2f×", results["speedup"])
  puts "#{results['noop_steps']} no-op steps, per step:"
  results["noop"].each { |name, r| puts format("  %-10s %.1f µs", name, r["per_step"] * 1e6) }
  Bench.write_json(results)
end
