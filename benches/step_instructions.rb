# frozen_string_literal: true

# Instructions a no-op step costs the whole process (every thread), counted by valgrind's
# callgrind: deterministic for a build and input, so a few percent on the worker's path
# shows where wall-clock benches on a shared machine are too noisy (issue 17's overhead).
#
#   for n in 1 3; do
#     valgrind --tool=callgrind --callgrind-out-file=cg-$n.out ruby benches/step_instructions.rb . $n
#   done
#   # per step = (PROGRAM TOTALS of cg-3.out - of cg-1.out) / 4000   (callgrind_annotate)
#
# Counts move by up to ±1 % between runs of one build (the engine's threads poll as the
# scheduler lets them), so compare builds run after one another, and prefer N = 1 and 9
# (16,000 steps apart) when a few hundred instructions matter.
#
# ARGV[0]: the checkout whose gem/lib (and built extension) to load; ARGV[1]: how many
# 2,000-step no-op tasks to run, one after another, on 1 worker thread; ARGV[2] (optional):
# an engine-wide `step_timeout:` in seconds, so every step is timed (the cost of timeouts in
# use: arming and disarming the pool's watchdog, the engine's deadline per attempt).
$LOAD_PATH.unshift File.join(File.expand_path(ARGV.fetch(0)), "gem/lib")
require "tasker_core"
require File.join(File.expand_path(ARGV.fetch(0)), "fixtures/generated_templates")
require File.join(File.expand_path(ARGV.fetch(0)), "fixtures/handlers/recording")
timeout = ARGV[2] ? { step_timeout: Float(ARGV[2]) } : {}
engine = TaskerCore::Engine.start(workers: 1, database_url: "memory:", instrument: false, **timeout)
engine.register_template(Fixtures::GeneratedTemplates.layered(steps: 2_000), source: "g")
Integer(ARGV.fetch(1)).times do
  id = engine.submit_task("generated_2000", {}, namespace: "generated")
  raise "not complete" unless engine.native.wait_for_task(id, 120) == "complete"
end
engine.stop
