# frozen_string_literal: true

# Issue 17: the per-step cost of concurrency caps on PostgreSQL, where (from the branch
# that shares them) a capped step goes out only on a slot row of tasker_core_cap_slots.
# One worker engine (4 threads) on PostgreSQL submits TASKS small 4-step tasks (no-op
# handlers) and waits for them all; steps/s from the first submission to the last task's
# end. Variants, alternating within one sitting: `none` (no caps), `wide` (every step's
# handler capped at 1,000,000: never reached, every step counted), `tight` (capped at 4,
# the worker count: the cap is reached all the time). Run it on two builds by pointing
# TASKER_LIB at each one's gem/lib to compare before and after.
#
#   TASKER_LIB=/path/to/gem/lib TASKER_BENCH_DATABASE_URL=postgres://…/db ruby benches/shared_caps.rb [REPETITIONS]

$LOAD_PATH.unshift ENV.fetch("TASKER_LIB", File.expand_path("../gem/lib", __dir__))
Warning[:experimental] = false
require "tasker_core"
require_relative "../fixtures/handlers/recording"

module SharedCapsBench
  TASKS = Integer(ENV.fetch("TASKER_BENCH_CAP_TASKS", "500"))
  URL = ENV.fetch("TASKER_BENCH_DATABASE_URL")
  SCHEMA = "bench_shared_caps"
  # The fixtures' 4-step chain, as benches/chain_ab.rb runs it: no-op handlers.
  TEMPLATE = File.read(File.expand_path("../fixtures/templates/patterns/linear.yaml", __dir__))
                 .gsub("Fixtures::RecordingHandler", "Fixtures::NoopHandler")
  VARIANTS = {
    "none" => nil,
    "wide" => { handlers: { "Fixtures::NoopHandler" => 1_000_000 } },
    "tight" => { handlers: { "Fixtures::NoopHandler" => 4 } }
  }.freeze

  module_function

  def url = "#{URL}#{URL.include?('?') ? '&' : '?'}options=-c%20search_path%3D#{SCHEMA}"

  def run_once(concurrency)
    options = { workers: 4, database_url: url, templates: nil }
    options[:concurrency] = concurrency if concurrency
    engine = TaskerCore::Engine.start(**options)
    engine.register_template(TEMPLATE, source: "linear.yaml")
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    ids = Array.new(TASKS) { |i| engine.submit_task("linear", { "i" => i }, namespace: "fixtures") }
    ids.each { |id| raise "task #{id} did not complete" unless engine.wait_for_task(id, timeout: 300).state == "complete" }
    TASKS * 4 / (Process.clock_gettime(Process::CLOCK_MONOTONIC) - started)
  ensure
    engine&.close(timeout: 10)
  end

  def main(repetitions)
    sql = "SET client_min_messages = warning; DROP SCHEMA IF EXISTS #{SCHEMA} CASCADE; CREATE SCHEMA #{SCHEMA};"
    system("psql", URL, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql, out: File::NULL) or raise "cannot reset #{SCHEMA}"
    VARIANTS.each_value { |c| run_once(c) } # warm-up: migrations, first connections
    rates = VARIANTS.keys.to_h { |k| [k, []] }
    repetitions.times { VARIANTS.each { |name, c| rates[name] << run_once(c) } }
    puts "#{TASKS} 4-step tasks, 4 workers, PostgreSQL, #{repetitions} runs per variant (alternating): steps/s"
    rates.each do |name, r|
      s = r.sort
      puts format("  %-6s median %8.0f  best %8.0f  all %s", name, s[s.size / 2], s.last, s.map(&:round).join(" "))
    end
  end
end

SharedCapsBench.main(Integer(ARGV.fetch(0, "5"))) if $PROGRAM_NAME == __FILE__
