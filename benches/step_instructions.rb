# frozen_string_literal: true

# Instructions a no-op step costs the whole process (every thread), counted by valgrind's
# callgrind: deterministic for a build and input, so a few percent on the worker's path
# shows where wall-clock benches on a shared machine are too noisy (issue 17's overhead).
#
#   for n in 1 9; do
#     valgrind --tool=callgrind --callgrind-out-file=cg-$n.out ruby benches/step_instructions.rb . $n limit
#   done
#   # per step = (PROGRAM TOTALS of cg-9.out - of cg-1.out) / 16000   (callgrind_annotate)
#
# Counts move by up to ±1 % between runs of one build (the engine's threads poll as the
# scheduler lets them), so compare builds run after one another, and prefer N = 1 and 9
# (16,000 steps apart) when a few hundred instructions matter.
#
# ARGV[0]: the checkout whose gem/lib (and built extension) to load; ARGV[1]: how many
# 2,000-step no-op tasks to run, one after another, on 1 worker thread; ARGV[2] (optional):
# - a number: an engine-wide `step_timeout:` in seconds, so every step is timed (the cost of
#   timeouts in use: arming and disarming the pool's watchdog, the engine's deadline per
#   attempt), as before the variants existed;
# - or a variant of benches/operating_cost.rb (`unused`, `timeout`, `priority`, `limit`,
#   `all`), taken from its VARIANTS so both benches measure the same configurations (this
#   script's own copy of operating_cost.rb; the gem and extension still come from ARGV[0]).
checkout = File.expand_path(ARGV.fetch(0))
ROOT = checkout # what benches/support/bench_support.rb loads the gem and fixtures from
$LOAD_PATH.unshift File.join(checkout, "gem/lib")
require "tasker_core"
require File.join(checkout, "fixtures/generated_templates")
require File.join(checkout, "fixtures/handlers/recording")
require_relative "operating_cost"

variant = ARGV[2]
start, submit =
  if variant.nil? then [{}, {}]
  elsif (seconds = Float(variant, exception: false)) then [{ step_timeout: seconds }, {}]
  else
    Bench::OperatingCost::VARIANTS.fetch(variant) do
      abort "step_instructions.rb: unknown variant #{variant.inspect} " \
            "(a number of seconds, or one of #{Bench::OperatingCost::VARIANTS.keys.join(', ')})"
    end
  end
engine = TaskerCore::Engine.start(workers: 1, database_url: "memory:", instrument: false, **start)
engine.register_template(Fixtures::GeneratedTemplates.layered(steps: 2_000), source: "g")
Integer(ARGV.fetch(1)).times do
  id = engine.submit_task("generated_2000", {}, namespace: "generated", **submit)
  raise "not complete" unless engine.native.wait_for_task(id, 120) == "complete"
end
engine.stop
