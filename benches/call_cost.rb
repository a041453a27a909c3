# frozen_string_literal: true

# Issue 2, "non-blocking calls from Ruby": what one call costs the calling Ruby thread.
# Target ≤ 1 µs per call.
#
# - `native.stopped?`: a native call that does nothing (the baseline: crossing into Rust
#   and back);
# - `Engine#submit_task`: a 1-step template with a 2-key context (the context is converted
#   to JSON, the task gets ids, the orchestrator is sent a message);
# - `native.complete_step(id, nil)`, the call a worker makes after a handler returns, and
#   the same with a 1-key Hash result.
#
# The engine runs with `workers: 0`, so no Ruby thread competes for the GVL. Calls that
# create state are timed with a clock loop over a fixed number of calls (benchmark-ips would
# create an unbounded number of tasks); the baseline is also measured with benchmark-ips.
# Each loop records wall time and the Ruby thread's CPU time: the engine's threads keep
# working meanwhile, as in production; on a small machine they take cores from the caller,
# and a call may block on a lock they hold. Wall time counts both, CPU time neither.
#
#   ruby benches/call_cost.rb [--json PATH]

require_relative "support/bench_support"
require "benchmark/ips"

module Bench
  # Times the non-blocking calls; see the file comment.
  class CallCost
    ROUNDS = 7
    # Steps of the wide template: how many complete_step calls one round makes.
    WIDE_STEPS = 5_000
    SUBMITS = 5_000
    NOOPS = 200_000
    CONTEXT = { "order_id" => 42, "customer" => "c-1" }.freeze
    RESULT = { "ok" => true }.freeze
    CALLS = { "loop" => NOOPS, "stopped?" => NOOPS, "submit_task" => SUBMITS,
              "complete_step(nil)" => WIDE_STEPS, "complete_step(Hash)" => WIDE_STEPS }.freeze

    def initialize
      @engine = TaskerCore::Engine.start(workers: 0, database_url: "memory:")
      @native = @engine.native
      @engine.register_template(Bench.wide_template(name: "bench_wide", steps: WIDE_STEPS), source: "benches/call_cost.rb")
      @engine.register_template(Bench.wide_template(name: "bench_one", steps: 1), source: "benches/call_cost.rb")
    end

    # @return [Hash] JSON-ready results
    def run
      rounds = []
      # Round 0 is a warm-up and is dropped.
      (ROUNDS + 1).times do |round|
        sample = {
          "loop" => empty_loop,
          "stopped?" => stopped_loop,
          "submit_task" => submit_loop,
          "complete_step(nil)" => complete_loop(nil),
          "complete_step(Hash)" => complete_loop(RESULT)
        }
        rounds << sample unless round.zero?
      end
      per_call = CALLS.keys.to_h do |name|
        [name, %w[wall cpu].to_h { |clock| [clock, Bench.summary(rounds.map { |r| r[name][clock] })] }]
      end
      { "rounds" => ROUNDS, "calls_per_round" => CALLS, "context" => CONTEXT, "per_call_seconds" => per_call,
        "stopped_ips" => baseline_ips, "engine_stats" => @engine.stats.transform_keys(&:to_s) }
    ensure
      @engine.stop
    end

    private

    # The loop alone, calling nothing: part of every row below.
    def empty_loop
      i = 0
      n = NOOPS
      started = Bench.clocks
      i += 1 while i < n
      Bench.per_call(started, n)
    end

    def stopped_loop
      native = @native
      i = 0
      n = NOOPS
      started = Bench.clocks
      while i < n
        native.stopped?
        i += 1
      end
      Bench.per_call(started, n)
    end

    def submit_loop
      engine = @engine
      ids = Array.new(SUBMITS)
      i = 0
      n = SUBMITS
      started = Bench.clocks
      while i < n
        ids[i] = engine.submit_task("bench_one", CONTEXT, namespace: "bench")
        i += 1
      end
      cost = Bench.per_call(started, n)
      # Untimed: run the tasks so the next loop starts with an idle engine.
      drain(SUBMITS).each { |s| @native.complete_step(s.step_id, nil) }
      ids.each { |id| finish(id) }
      cost
    end

    def complete_loop(result)
      task_id = @engine.submit_task("bench_wide", {}, namespace: "bench")
      step_ids = drain(WIDE_STEPS).map(&:step_id)
      native = @native
      i = 0
      n = step_ids.size
      started = Bench.clocks
      while i < n
        native.complete_step(step_ids[i], result)
        i += 1
      end
      cost = Bench.per_call(started, n)
      finish(task_id)
      cost
    end

    # Takes exactly `count` ready steps, waiting for the orchestrator to hand them out.
    def drain(count)
      steps = []
      deadline = Bench.now + 30
      while steps.size < count
        raise "only #{steps.size} of #{count} steps became ready within 30 s" if Bench.now > deadline

        steps.concat(@native.take_steps(count - steps.size, 1))
      end
      steps
    end

    def finish(task_id)
      state = @native.wait_for_task(task_id, 30)
      raise "task #{task_id} ended #{state.inspect}, expected complete" unless state == "complete"
    end

    def baseline_ips
      native = @native
      report = Benchmark.ips(quiet: true) do |x|
        x.config(time: 2, warmup: 1)
        x.report("native.stopped?") { native.stopped? }
      end
      entry = report.entries.first
      { "ips" => entry.ips, "ips_sd" => entry.ips_sd, "seconds_per_call" => 1.0 / entry.ips }
    end
  end
end

if $PROGRAM_NAME == __FILE__
  results = Bench::CallCost.new.run
  puts "per-call cost, #{results['rounds']} rounds: wall best / median, thread CPU median"
  results["per_call_seconds"].each do |name, s|
    puts format("  %-22s %9s / %-9s %9s", name, Bench.format_ns(s["wall"]["best"]), Bench.format_ns(s["wall"]["median"]),
                Bench.format_ns(s["cpu"]["median"]))
  end
  ips = results["stopped_ips"]
  puts format("  benchmark-ips native.stopped?: %s i/s ± %s (%s per call)", Bench.format_rate(ips["ips"]),
              Bench.format_rate(ips["ips_sd"]), Bench.format_ns(ips["seconds_per_call"]))
  Bench.write_json(results)
end
