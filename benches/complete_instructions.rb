# frozen_string_literal: true

# Instructions one `native.complete_step(id, { "ok" => true })` costs the calling thread,
# counted by valgrind's callgrind (the companion of submit_instructions.rb; the call
# call_cost.rb times). Owns only this count: it must not time anything.
#
#   for n in 1000 3000; do
#     valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file=cg-$n.%p \
#       ruby benches/complete_instructions.rb . $n
#   done
#   # per call = (totals of cg-3000.*-01 - totals of cg-1000.*-01) / 2000  (thread 01 is Ruby's)
#
# Both runs register, submit and take the same 3,000 steps; only the number completed
# differs, so the difference is complete_step's alone. ARGV[0]: the checkout whose gem/lib
# (and built extension) to load; ARGV[1]: how many steps to complete (at most 3,000); ARGV[2]
# a result other than `{ "ok" => true }`: `nil`. The process ends with exit! (freeing the
# engine is not a call's cost).
$LOAD_PATH.unshift File.join(File.expand_path(ARGV.fetch(0)), "gem/lib")
require "tasker_core"
steps = 3_000
n = Integer(ARGV.fetch(1))
abort "complete_instructions.rb: at most #{steps} calls" if n > steps
result = ARGV[2] == "nil" ? nil : { "ok" => true }.freeze
engine = TaskerCore::Engine.start(workers: 0, database_url: "memory:")
lines = ["name: bench_wide", "namespace_name: bench", "version: 1.0.0", "step_templates:"]
steps.times { |i| lines << "  - name: s#{i}" << "    handler_class: Noop" }
engine.register_template("#{lines.join("\n")}\n", source: "cg")
native = engine.native
engine.submit_task("bench_wide", {}, namespace: "bench")
ids = []
ids.concat(native.take_steps(steps - ids.size, 1).map(&:step_id)) while ids.size < steps
i = 0
while i < n
  native.complete_step(ids[i], result)
  i += 1
end
exit!(0)
