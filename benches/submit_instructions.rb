# frozen_string_literal: true

# Instructions one `Engine#submit_task` costs the calling thread, counted by valgrind's
# callgrind: the same total for the same build and input whatever else the machine does, so
# a change of a few percent on the hot path shows where wall-clock benches are too noisy.
#
#   for n in 1000 3000; do
#     valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file=cg-$n.%p \
#       ruby benches/submit_instructions.rb . $n
#   done
#   # per submit = (totals of cg-3000.*-01 - totals of cg-1000.*-01) / 2000  (thread 01 is Ruby's)
#
# ARGV[0]: the checkout whose gem/lib (and built extension) to load; ARGV[1]: submissions;
# ARGV[2] "exit!" ends the process without freeing the engine: the `memory:` store keeps every
# task, and freeing them at exit (~1,700 instructions a task on thread 01) is not a submit's.
$LOAD_PATH.unshift File.join(File.expand_path(ARGV.fetch(0)), "gem/lib")
require "tasker_core"
n = Integer(ARGV.fetch(1))
engine = TaskerCore::Engine.start(workers: 0, database_url: "memory:")
yaml = <<~Y
  name: bench_one
  namespace_name: bench
  version: 1.0.0
  step_templates:
    - name: s0
      handler_class: Noop
Y
engine.register_template(yaml, source: "cg")
ctx = { "order_id" => 42, "customer" => "c-1" }.freeze
50.times { engine.submit_task("bench_one", ctx, namespace: "bench") }
i = 0
while i < n
  engine.submit_task("bench_one", ctx, namespace: "bench")
  i += 1
end
engine.stop(timeout: 5) rescue nil
exit!(0) if ARGV[2] == "exit!"
