# frozen_string_literal: true

# Where the wall time of `native.complete_step(id, {"ok" => true})` goes that the calling
# thread's CPU time does not show (benches/call_cost.rb: wall ~450 ns above CPU): per call,
# from the kernel's own counts (Linux only), for the calling thread and for each engine thread:
#
# - schedstat: ns on a CPU, ns runnable but waiting for a CPU (preempted or not yet
#   scheduled), and time slices;
# - voluntary (blocked: a lock, a wait) and involuntary (preempted) context switches.
#
# The calling thread's wall time is its CPU time + its run-queue wait + time blocked; a
# voluntary switch per call would be a lock held by an engine thread, run-queue wait is an
# engine thread (or another process) taking its core.
#
#   ruby benches/complete_switches.rb [CHECKOUT]   # CHECKOUT: whose gem/lib to load (default .)
#
# Knobs: ROUNDS (7), STEPS (5,000 calls a round, as call_cost.rb), COMPLETE=0 (take the
# steps but make no call), FLUSH=1 (wait for the store before the calls). Instructions per
# call and thread, by difference under callgrind (a thread's total is its file's `summary:`):
#
#   for k in 0 1; do COMPLETE=$k ROUNDS=1 STEPS=2000 valgrind --tool=callgrind \
#     --separate-threads=yes --callgrind-out-file=cg$k.%p ruby benches/complete_switches.rb; done

ROOT = File.expand_path(ARGV[0] || ".")
require_relative "support/bench_support"

module Bench
  # See the file comment.
  class CompleteSwitches
    RESULT = { "ok" => true }.freeze

    def initialize
      @rounds = Integer(ENV.fetch("ROUNDS", "7"))
      @steps = Integer(ENV.fetch("STEPS", "5000"))
      @engine = TaskerCore::Engine.start(workers: 0, database_url: "memory:")
      @native = @engine.native
      @engine.register_template(Bench.wide_template(name: "switches_wide", steps: @steps), source: __FILE__)
    end

    def run
      rows = (@rounds + 1).times.map { round }.drop(1)
      report(rows)
      stats = @engine.stats.transform_keys(&:to_s)
      counts = stats.slice("store_batches", "store_changes", "steps_completed")
      puts "  engine stats: #{counts.map { |k, v| "#{k} #{v}" }.join(', ')}"
    ensure
      @engine.stop
    end

    private

    def round
      task_id = @engine.submit_task("switches_wide", {}, namespace: "bench")
      ids = drain(@steps).map(&:step_id)
      # COMPLETE=0: everything but the calls (under callgrind, the difference is their cost).
      return { wall: 0, threads: {} } if ENV["COMPLETE"] == "0"

      # FLUSH=1: the task's creation committed before the calls (call_cost.rb does not wait).
      @engine.flush if ENV["FLUSH"] == "1"

      native = @native
      before = threads
      started = Bench.now
      i = 0
      n = ids.size
      while i < n
        native.complete_step(ids[i], RESULT)
        i += 1
      end
      wall = Bench.now - started
      after = threads
      state = native.wait_for_task(task_id, 30)
      raise "task ended #{state}" unless state == "complete"

      { wall: wall / n, threads: diff(before, after, n) }
    end

    # tid => [name, cpu ns, runqueue ns, slices, voluntary, involuntary]. CPU from the thread's
    # own CPU clock (Linux's per-thread clock id for `tid`): schedstat's CPU of a running
    # thread is updated only at a tick or a switch (4 ms at HZ=250), as large as a round's
    # per-call figures. Its run-queue wait has no fresher source: take STEPS large (50,000+)
    # for it to mean anything.
    def threads
      Dir.glob("/proc/self/task/*").to_h do |dir|
        tid = File.basename(dir).to_i
        _cpu, wait, slices = File.read("#{dir}/schedstat").split.map(&:to_i)
        cpu = Process.clock_gettime(((~tid) << 3) | 6, :nanosecond)
        status = File.read("#{dir}/status")
        vol = status[/^voluntary_ctxt_switches:\s+(\d+)/, 1].to_i
        invol = status[/^nonvoluntary_ctxt_switches:\s+(\d+)/, 1].to_i
        [tid, [File.read("#{dir}/comm").strip, cpu, wait, slices, vol, invol]]
      rescue Errno::ENOENT, Errno::ESRCH, Errno::EINVAL
        [tid, nil] # the thread ended meanwhile
      end.compact
    end

    def diff(before, after, calls)
      after.filter_map do |tid, (name, *now)|
        was = before[tid] or next
        d = now.zip(was[1..]).map { |a, b| (a - b).to_f / calls }
        next if d.all?(&:zero?)

        [tid == Process.pid ? "caller" : "#{name}(#{tid})", d]
      end.to_h
    end

    def drain(count)
      steps = []
      steps.concat(@native.take_steps(count - steps.size, 1)) while steps.size < count
      steps
    end

    def median(values) = values.sort[values.size / 2]

    def report(rows)
      puts format("complete_step(Hash), %d rounds of %d: wall median %.0f ns; per call, medians:", @rounds, @steps,
                  median(rows.map { |r| r[:wall] }) * 1e9)
      puts format("  %-26s %8s %8s %8s %8s %8s", "thread", "cpu ns", "rq ns", "slices", "vol", "invol")
      rows.flat_map { |r| r[:threads].keys }.uniq.each do |name|
        cols = (0..4).map { |k| median(rows.map { |r| r[:threads].fetch(name, [0] * 5)[k] }) }
        puts format("  %-26s %8.0f %8.0f %8.3f %8.3f %8.3f", name, *cols)
      end
    end
  end
end

Bench::CompleteSwitches.new.run if $PROGRAM_NAME == __FILE__
