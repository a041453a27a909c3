# frozen_string_literal: true

# One 4-step chain at a time (submit, then `wait_for_task`), for counting what a task costs
# the process with an outside tool rather than timing it: system calls
# (`strace -f -c`), CPU time (`perf stat`). 300 warm-up tasks, then N (default 1,000).
#
#   N=1000 strace -f -c -o /tmp/strace.txt ruby benches/serial_chain.rb [CHECKOUT] [URL]
#
# Divide the counts by 300 + N. CHECKOUT (default this one) is the checkout whose gem/lib
# and built extension to load; URL (default a new SQLite file) the store.
require "tmpdir"
root = File.expand_path(ARGV[0] || File.join(__dir__, ".."))
$LOAD_PATH.unshift File.join(root, "gem/lib")
require "tasker_core"
require File.join(root, "fixtures/handlers/recording")

n = Integer(ENV.fetch("N", "1000"))
url = ARGV[1] || "sqlite://#{Dir.mktmpdir('serial_chain')}/serial_chain.sqlite3"
template = File.read(File.join(root, "fixtures/templates/patterns/linear.yaml"))
               .gsub("Fixtures::RecordingHandler", "Fixtures::NoopHandler")
engine = TaskerCore::Engine.start(workers: 4, batch_size: 16, database_url: url, instrument: false)
begin
  engine.register_template(template, source: "linear.yaml")
  run = -> { engine.submit_task("linear", {}, namespace: "fixtures") }
  300.times { engine.wait_for_task(run.call) }
  started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  n.times { raise "not complete" unless engine.wait_for_task(run.call).complete? }
  elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
  puts format("%d tasks after 300 warm-up: mean %.3f ms", n, elapsed / n * 1e3)
ensure
  engine.close
end
