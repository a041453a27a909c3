# frozen_string_literal: true

module Bench
  # The "Events (issue 4)" section of docs/benchmarks.md, mixed into {Report}. Reads
  # events.json (benches/events.rb); the only constants are issue 4's targets. Uses
  # {Report}'s `dur`, `num` and `row`.
  module EventsReport
    # Issue 4's targets. Not assertions: the section says whether each was met.
    EVENTS_PER_SECOND_TARGET = 1_000_000
    EVENT_P50_TARGET = 50e-6
    SUBSCRIBER_SLOWDOWN_TARGET = 0.10
    EVENTS_COMMAND = "ruby benches/events.rb --json target/bench/events.json"

    private

    def events = @events ||= read_json("events.json")

    def events_section
      <<~MD
        ## Events (issue 4)

        How lifecycle events reach Ruby subscriber blocks (`engine.subscribe(…) { |event| … }`:
        one dispatcher thread per subscriber, draining its buffer in batches with the GVL
        released while it waits). The targets are issue 4's; they are goals, not test
        assertions. Command (also run by `rake bench`):

        ```
        #{EVENTS_COMMAND}
        ```

        ### Against the targets

        | Side | Measurement | Measured | Target | Met |
        | --- | --- | --- | --- | --- |
        #{events_target_rows.join("\n")}

        ### Delivery

        `TaskerCore::Native::Diagnostics.flood_events` puts #{num(events['delivery']['1']['events'])} synthetic
        `step.completed` events on an engine's real bus (no orchestrator, no store: delivery alone),
        in chunks, pausing while a subscriber is more than 500,000 behind so none is dropped; timed
        until every subscriber block has counted every event. Each block does `count += 1`; the
        context Hash is never built (it is built only when read).

        | Subscribers | Events/s per subscriber, median | Best | All subscribers together, median | Dropped |
        | --- | --- | --- | --- | --- |
        #{%w[1 4].map { |n| delivery_row(n) }.join("\n")}

        ### Latency, transition to block

        `step.completed` events of 4-step linear tasks (no-op handlers, 2 workers) run one at a
        time; a sample is the wall clock in the block minus the event's `occurred_at` (taken when
        the engine made the transition). Events are announced once their transition is committed,
        so on the SQLite file the commit is part of the latency.

        | Store | p50 | p90 | p99 | max | Samples |
        | --- | --- | --- | --- | --- | --- |
        #{events['latency'].map { |store, r| "| #{DurableReport::STORE_LABELS.fetch(store, store)} | #{dur(r['p50'])} | #{dur(r['p90'])} | #{dur(r['p99'])} | #{dur(r['max'])} | #{num(r['samples'])} |" }.join("\n")}

        ### Workflow throughput with subscribers attached

        The 10,000-step wide task, no-op handlers, 4 workers, `memory:`; rounds alternate between
        the three set-ups. "4 subscribers" are four `"*"` blocks that do nothing (every event goes
        to each: five per step); "1 stalled subscriber" is a `"*"` block stuck on a Queue with a
        1,024-event buffer, so nearly every event is dropped and counted.

        | Set-up | Steps/s, median | Slower than none | Every round |
        | --- | --- | --- | --- |
        #{events['workflow'].map { |name, r| workflow_row(name, r) }.join("\n")}
      MD
    end

    def events_target_rows
      one = events["delivery"]["1"]["per_subscriber"]["median"]
      mem = events["latency"]["memory"]["p50"]
      sqlite = events["latency"]["sqlite"]
      [
        row("tasker-core", "Events/s delivered to one Ruby subscriber block", "#{num(one)}/s",
            "≥ #{num(EVENTS_PER_SECOND_TARGET)}/s", one >= EVENTS_PER_SECOND_TARGET),
        row("tasker-core", "Events/s to each of 4 subscribers (together)",
            "#{num(events['delivery']['4']['per_subscriber']['median'])}/s " \
            "(#{num(events['delivery']['4']['total']['median'])}/s)", "(measured)", nil),
        row("tasker-core", "Latency transition → block, p50, `memory:`", "#{dur(mem)} (p99 #{dur(events['latency']['memory']['p99'])})",
            "≤ #{dur(EVENT_P50_TARGET)}", mem <= EVENT_P50_TARGET),
        row("tasker-core", "Latency transition → block, p50, SQLite file (commit included)",
            "#{dur(sqlite['p50'])} (p99 #{dur(sqlite['p99'])})", "≤ #{dur(EVENT_P50_TARGET)}", sqlite["p50"] <= EVENT_P50_TARGET),
        row("tasker-core", "Workflow steps/s with 4 subscribers vs none", slowdown_text("4 subscribers"),
            "≤ #{(SUBSCRIBER_SLOWDOWN_TARGET * 100).round} % slower", slowdown("4 subscribers") <= SUBSCRIBER_SLOWDOWN_TARGET),
        row("tasker-core", "Workflow steps/s with 1 stalled subscriber vs none", slowdown_text("1 stalled subscriber"),
            "(issue 4: must not slow it; measured)", nil)
      ]
    end

    def delivery_row(n)
      r = events["delivery"][n]
      "| #{n} | #{num(r['per_subscriber']['median'])} | #{num(r['per_subscriber']['best'])} | #{num(r['total']['median'])} | #{num(r['dropped'])} |"
    end

    def slowdown(name)
      1 - (events["workflow"][name]["median"] / events["workflow"]["none"]["median"])
    end

    def slowdown_text(name)
      format("%.0f %% slower (%s vs %s steps/s)", slowdown(name) * 100, num(events["workflow"][name]["median"]),
             num(events["workflow"]["none"]["median"]))
    end

    def workflow_row(name, r)
      vs = name == "none" ? "" : format("%.0f %%", slowdown(name) * 100)
      "| #{name} | #{num(r['median'])} | #{vs} | #{r['rounds'].map { |x| num(x) }.join(', ')} |"
    end
  end
end
