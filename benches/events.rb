# frozen_string_literal: true

# Issue 4, events to Ruby subscribers. Targets (not assertions): ≥ 1,000,000 events/s to one
# Ruby subscriber block; p50 ≤ 50 µs from a transition to the block; workflow steps/s at
# most 10 % slower with 4 subscribers attached.
#
# - Delivery: `TaskerCore::Native::Diagnostics.flood_events` puts synthetic step.completed
#   events on an engine's bus (the real bus, subscriptions, dispatcher threads and blocks; it
#   skips the orchestrator and the store, so what is timed is delivery alone). Timed from the
#   first flood to the moment the last subscriber block has counted every event; the flood
#   pauses while a subscriber is far behind so nothing is dropped (drops are reported).
# - Latency: `Time.now` in the block minus `event.occurred_at_us` (stamped when the engine
#   made the transition) for the step.completed events of 4-step linear tasks run one at a
#   time with 2 workers; events are announced after their transition is committed, so on a
#   durable store the commit is in the latency.
# - Workflow: the 10,000-step wide task, no-op handlers, 4 workers, memory store; rounds
#   alternate between no subscriber, 4 counting "*" subscribers, and one stalled subscriber
#   (its block waits on a Queue: capacity 1,024, the rest is dropped).
#
#   ruby benches/events.rb [--json PATH]

require_relative "support/bench_support"
require_relative "support/durable_stores"

module Bench
  # See the file comment.
  class Events
    FLOOD = 2_000_000
    CHUNK = 50_000
    MAX_LAG = 500_000
    ROUNDS = 5
    LATENCY_TASKS = 1_000
    WIDE_STEPS = 10_000
    WORKFLOW_ROUNDS = 5

    # Counts deliveries; `done` is signalled when `target` is reached.
    class Counter
      attr_reader :count

      def initialize(target)
        @target = target
        @count = 0
        @done = Queue.new
      end

      def to_proc
        lambda do |_event|
          @count += 1
          @done << true if @count == @target
        end
      end

      def wait = @done.pop
    end

    def run
      {
        "delivery" => { "1" => delivery(1), "4" => delivery(4) },
        "latency" => latency,
        "workflow" => workflow
      }
    end

    private

    def delivery(subscribers)
      rates = Array.new(ROUNDS) do
        engine = TaskerCore::Engine.start(workers: 0, database_url: "memory:", recover: false, instrument: false)
        counters = Array.new(subscribers) { Counter.new(FLOOD) }
        subs = counters.each_with_index.map do |c, i|
          engine.subscribe("*", capacity: 1_000_000, name: "counter #{i}", &c.to_proc)
        end
        started = Bench.now
        sent = 0
        while sent < FLOOD
          sleep 0.0005 while engine.events.stats.values.any? { |s| s[:lag] > MAX_LAG }
          n = [CHUNK, FLOOD - sent].min
          TaskerCore::Native::Diagnostics.flood_events(engine.native, n)
          sent += n
        end
        counters.each(&:wait)
        elapsed = Bench.now - started
        dropped = engine.events.stats.values.sum { |s| s[:dropped] }
        subs.each { |s| engine.unsubscribe(s) }
        engine.close
        { "per_subscriber" => FLOOD / elapsed, "total" => FLOOD * subscribers / elapsed, "dropped" => dropped }
      end
      { "events" => FLOOD, "per_subscriber" => Bench.rate_summary(rates.map { |r| r["per_subscriber"] }),
        "total" => Bench.rate_summary(rates.map { |r| r["total"] }), "dropped" => rates.sum { |r| r["dropped"] } }
    end

    def latency
      yaml = File.read(File.join(ROOT, "fixtures/templates/patterns/linear.yaml"))
                 .gsub("Fixtures::RecordingHandler", "Fixtures::NoopHandler")
      stores = DurableStores.new("events_latency")
      %w[memory sqlite].to_h do |backend|
        engine = TaskerCore::Engine.start(workers: 2, database_url: stores.url(backend), recover: false, instrument: false)
        engine.register_template(yaml, source: "linear.yaml")
        samples = []
        measuring = false
        engine.subscribe("step.completed") do |event|
          now_us = Process.clock_gettime(Process::CLOCK_REALTIME, :microsecond)
          samples << (now_us - event.occurred_at_us) / 1e6 if measuring
        end
        50.times { engine.native.wait_for_task(engine.submit_task("linear", {}, namespace: "fixtures"), 30) }
        sleep 0.1
        measuring = true
        LATENCY_TASKS.times { engine.native.wait_for_task(engine.submit_task("linear", {}, namespace: "fixtures"), 30) }
        sleep 0.2
        measuring = false
        engine.close
        [backend, percentiles(samples)]
      end
    ensure
      stores&.cleanup
    end

    def percentiles(values)
      sorted = values.sort
      rank = ->(q) { sorted[[(q * sorted.size).ceil - 1, 0].max] }
      { "samples" => sorted.size, "p50" => rank.(0.5), "p90" => rank.(0.9), "p99" => rank.(0.99), "max" => sorted.last }
    end

    def workflow
      engine = TaskerCore::Engine.start(workers: 4, batch_size: 16, database_url: "memory:", recover: false,
                                        instrument: false)
      engine.register_template(Bench.wide_template(name: "events_wide", steps: WIDE_STEPS), source: "benches/events.rb")
      run_once = lambda do
        started = Bench.now
        engine.native.wait_for_task(engine.submit_task("events_wide", {}, namespace: "bench"), 60)
        WIDE_STEPS / (Bench.now - started)
      end
      run_once.call
      configs = { "none" => [], "4 subscribers" => [], "1 stalled subscriber" => [] }
      WORKFLOW_ROUNDS.times do
        configs["none"] << run_once.call

        subs = Array.new(4) { |i| engine.subscribe("*", name: "count #{i}") { |_e| nil } }
        configs["4 subscribers"] << run_once.call
        sleep 0.05 until engine.events.stats.values.all? { |s| s[:lag].zero? }
        subs.each { |s| engine.unsubscribe(s) }

        gate = Queue.new
        stalled = engine.subscribe("*", capacity: 1_024, name: "stalled") { |_e| gate.pop }
        configs["1 stalled subscriber"] << run_once.call
        gate << :go
        engine.unsubscribe(stalled)
      end
      engine.close
      configs.transform_values { |rates| Bench.rate_summary(rates) }
    end
  end
end

if $PROGRAM_NAME == __FILE__
  results = Bench::Events.new.run
  results["delivery"].each do |n, r|
    puts format("delivery to %s subscriber(s): %s events/s per subscriber (median), %s total, %d dropped",
                n, Bench.format_rate(r["per_subscriber"]["median"]), Bench.format_rate(r["total"]["median"]), r["dropped"])
  end
  results["latency"].each do |store, r|
    puts format("latency %-7s p50 %.1f µs, p90 %.1f µs, p99 %.1f µs (%d samples)", store, r["p50"] * 1e6, r["p90"] * 1e6,
                r["p99"] * 1e6, r["samples"])
  end
  results["workflow"].each do |config, r|
    puts format("workflow %-22s %s steps/s median (%s)", config, Bench.format_rate(r["median"]),
                r["rounds"].map { |x| Bench.format_rate(x) }.join(", "))
  end
  Bench.write_json(results)
end
