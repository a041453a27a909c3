# frozen_string_literal: true

# Shared by the Ruby benchmark scripts: loads the gem and the fixtures, and gives them a
# clock, small statistics, synthetic templates and a way to hand results to `rake bench`.
#
# Every script runs on its own (`ruby benches/call_cost.rb`) and prints what it measured;
# given `--json PATH` it also writes the numbers there for docs/benchmarks.md.

require "json"

ROOT = File.expand_path("../..", __dir__) unless defined?(ROOT)
$LOAD_PATH.unshift(File.join(ROOT, "gem/lib"))

require "tasker_core"
require File.join(ROOT, "fixtures/generated_templates")
require File.join(ROOT, "fixtures/handlers/recording")

module Bench
  module_function

  # Monotonic seconds.
  def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  # CPU seconds used by the calling thread: unlike {now}, it does not count time the thread
  # spent descheduled while the engine's own threads had the cores.
  def cpu_now = Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID)

  # [wall, thread CPU] seconds, to be passed to {per_call} after a loop.
  def clocks = [now, cpu_now]

  # {"wall" => s, "cpu" => s} per call since `started` (from {clocks}) over `calls` calls.
  def per_call(started, calls)
    { "wall" => (now - started[0]) / calls, "cpu" => (cpu_now - started[1]) / calls }
  end

  # Seconds the block took.
  def time
    started = now
    yield
    now - started
  end

  def median(values)
    sorted = values.sort
    mid = sorted.size / 2
    sorted.size.odd? ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2.0
  end

  # Best (smallest) and median of per-round values, plus every round as measured.
  def summary(values)
    { "best" => values.min, "median" => median(values), "rounds" => values }
  end

  # Same, when bigger is better (rates).
  def rate_summary(values)
    { "best" => values.max, "median" => median(values), "rounds" => values }
  end

  # A template of `steps` independent no-op steps: every step is ready at once.
  # @return [String] YAML
  def wide_template(name:, steps:, namespace: "bench")
    lines = ["name: #{name}", "namespace_name: #{namespace}", "version: 1.0.0", "step_templates:"]
    steps.times { |i| lines << "  - name: s#{i}" << "    handler_class: Fixtures::NoopHandler" }
    "#{lines.join("\n")}\n"
  end

  # The value of `--json PATH`, if given.
  def json_path(argv = ARGV)
    i = argv.index("--json")
    i && argv.fetch(i + 1)
  end

  # Writes `results` as JSON when `--json PATH` was given.
  def write_json(results, argv = ARGV)
    path = json_path(argv) or return
    File.write(path, "#{JSON.pretty_generate(results)}\n")
    puts "wrote #{path}"
  end

  def format_ns(seconds) = format("%.0f ns", seconds * 1e9)

  def format_rate(per_second) = format("%.0f", per_second).reverse.scan(/\d{1,3}/).join(",").reverse
end
