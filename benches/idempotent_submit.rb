# frozen_string_literal: true

# Issue 17 item 2, idempotent submission: what a submit costs with and without an identity,
# on each store. Per call, sequential, one engine per store (no workers: the tasks stay
# in_progress, so only the submission is timed):
#
# - `plain`: `submit_task` without identity (returns before the commit; unchanged by the
#   feature: identity is nil, the same fast path as before);
# - `durable`: `submit_task(durable: true)`, the fair baseline for an identified submit,
#   which also waits for the commit;
# - `identified, new`: `submit_once` with a new key each call (a store read, the commit,
#   then the start);
# - `identified, repeat`: `submit_once` with a key already stored (the store read only).
#
#   ruby benches/idempotent_submit.rb [--json PATH]

require_relative "support/bench_support"
require_relative "support/durable_stores"

module Bench
  # Times submissions with and without identity; see the file comment.
  class IdempotentSubmit
    TEMPLATE = <<~YAML
      name: idempotent_bench
      namespace_name: bench
      version: 1.0.0
      step_templates:
        - { name: only, handler_class: Fixtures::NoopHandler }
    YAML
    CALLS = 300
    PLAIN_CALLS = 5_000

    # @return [Hash] JSON-ready results
    def run
      stores = DurableStores.new("idempotent_submit")
      results = DurableStores::BACKENDS.to_h do |backend|
        url = stores.url(backend)
        [backend, url ? measure(url) : { "skipped" => stores.postgres_skipped }]
      end
      { "calls" => CALLS, "plain_calls" => PLAIN_CALLS, "results" => results }
    ensure
      stores&.cleanup
    end

    private

    def measure(url)
      engine = TaskerCore::Engine.start(workers: 0, database_url: url, recover: false, instrument: false)
      engine.register_template(TEMPLATE, source: "benches/idempotent_submit.rb")
      20.times { |i| engine.submit_once("idempotent_bench", {}, identity: { key: "warm-#{i}" }) }
      {
        "plain" => per(PLAIN_CALLS) { |i| engine.submit_task("idempotent_bench", { "i" => i }) },
        "durable" => per(CALLS) { |i| engine.submit_task("idempotent_bench", { "i" => i }, durable: true) },
        "identified_new" => per(CALLS) { |i| engine.submit_once("idempotent_bench", {}, identity: { key: "k#{i}" }) },
        "identified_repeat" => per(CALLS) { |i| engine.submit_once("idempotent_bench", {}, identity: { key: "k#{i}" }) }
      }
    ensure
      engine&.close
    end

    def per(calls)
      started = Bench.now
      calls.times { |i| yield i }
      (Bench.now - started) / calls
    end
  end
end

if $PROGRAM_NAME == __FILE__
  results = Bench::IdempotentSubmit.new.run
  puts "per submit: plain / durable / identified, new / identified, repeat"
  us = ->(s) { format("%.1f µs", s * 1e6) }
  results["results"].each do |backend, r|
    if r["skipped"]
      puts format("  %-8s SKIPPED: %s", backend, r["skipped"])
      next
    end
    puts format("  %-8s %s / %s / %s / %s", backend, us.(r["plain"]), us.(r["durable"]), us.(r["identified_new"]),
                us.(r["identified_repeat"]))
  end
  Bench.write_json(results)
end
