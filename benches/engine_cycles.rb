# frozen_string_literal: true

# Issue 23, item 3: what an engine leaves behind when it is started, used and closed again and
# again (a test suite, or a forking server that restarts engines). Target (not an assertion):
# over 1,000 cycles RSS grows by at most 5 MB, and threads, file descriptors and database
# connections end at their starting counts.
#
# One cycle, on a SQLite file and on PostgreSQL (a fresh schema, see DurableStores): start an
# engine with two worker threads, register a two-step template, submit a task, wait for it,
# close. Every store reuses one database, as an app restarting its engine would.
#
# Measured, in this process: RSS (VmRSS, each reading after a full GC) before the first
# cycle, after the warm-up cycles (the allocators and Ruby's heaps reach their working size
# there; growth is counted from this point) and every 100 cycles after it; threads
# (/proc/self/task), file descriptors (/proc/self/fd) and, on PostgreSQL, the database's
# sessions (pg_stat_activity, counted from a connection of ruby-pg's that is itself one of
# them) before the first cycle, after the warm-up and after the last cycle. Counts are taken
# without a GC once they settle (at most SETTLE seconds): Ruby 3.1 keeps a finished Ruby
# thread's native thread for reuse for about 3 s, and PostgreSQL ends a closed session's
# backend a moment after the client leaves.
#
#   ruby benches/engine_cycles.rb [--cycles N] [--warmup N] [--stores sqlite,postgres] [--json PATH]

require_relative "support/bench_support"
require_relative "support/durable_stores"

module Bench
  # See the file comment.
  class EngineCycles
    CYCLES = 1_000
    WARMUP = 50
    TEMPLATE = <<~YAML
      name: cycle
      step_templates:
        - { name: a, handler_class: Fixtures::NoopHandler }
        - { name: b, handler_class: Fixtures::NoopHandler, depends_on_step: a }
    YAML
    SETTLE = 15
    STORES = %w[sqlite postgres].freeze

    # @return [Hash] the JSON written for docs/benchmarks.md
    def self.from_argv(argv)
      cycles = (i = argv.index("--cycles")) ? Integer(argv.fetch(i + 1)) : CYCLES
      warmup = (i = argv.index("--warmup")) ? Integer(argv.fetch(i + 1)) : WARMUP
      stores = (i = argv.index("--stores")) ? argv.fetch(i + 1).split(",") : STORES
      new(cycles: cycles, warmup: warmup, stores: stores).run
    end

    def initialize(cycles:, warmup:, stores: STORES)
      @cycles = cycles
      @warmup = warmup
      @stores = stores
    end

    def run
      stores = DurableStores.new("engine_cycles")
      results = { "cycles" => @cycles, "warmup" => @warmup, "workers" => 2, "stores" => {} }
      @stores.each do |backend|
        url = stores.url(backend)
        results["stores"][backend] = url ? measure(url, postgres: backend == "postgres") : { "skipped" => stores.postgres_skipped }
      end
      results
    ensure
      stores&.cleanup
    end

    private

    def cycle(url)
      engine = TaskerCore::Engine.start(database_url: url, workers: 2, backoff_scale: 0.001, instrument: false)
      engine.register_template(TEMPLATE)
      id = engine.submit_task("cycle", { "n" => 1 })
      result = engine.wait_for_task(id, timeout: 30)
      raise "cycle task #{id} ended #{result.status}" unless result.complete?
    ensure
      engine&.close(timeout: 10)
    end

    def measure(url, postgres:)
      sessions = postgres ? Sessions.new(url) : nil
      GC.start
      at_start = counts(sessions)
      rss = { "start" => rss_kb }
      started = Bench.now
      @warmup.times { cycle(url) }
      # Counted from here: the first cycles make what a process makes once (tokio's signal
      # socket pair: two descriptors), and Ruby's cached threads have left.
      before = settled_counts(sessions, at_start.merge("fds" => nil))
      GC.start
      rss["after_warmup"] = rss_kb
      series = []
      (1..@cycles).each do |n|
        cycle(url)
        next unless (n % 100).zero? || n == @cycles

        GC.start
        series << [n, rss_kb]
      end
      seconds = Bench.now - started
      after = settled_counts(sessions, before)
      rss["end"] = series.last[1]
      {
        "rss_kb" => rss.merge("growth" => rss["end"] - rss["after_warmup"], "every_100" => series),
        "at_start" => at_start, "before" => before, "after" => after, "seconds" => seconds
      }
    ensure
      sessions&.close
    end

    # Threads, descriptors and sessions now.
    def counts(sessions)
      { "threads" => Dir.children("/proc/self/task").size, "fds" => Dir.children("/proc/self/fd").size,
        "connections" => sessions&.count }
    end

    # The counts once they equal `expected` (a nil there matches anything), or as they are
    # after SETTLE seconds. No GC: what close releases must not wait for Ruby to free the
    # engine object.
    def settled_counts(sessions, expected)
      deadline = Bench.now + SETTLE
      loop do
        now = counts(sessions)
        return now if expected.all? { |k, v| v.nil? || now[k] == v } || Bench.now > deadline

        sleep 0.1
      end
    end

    def rss_kb = File.read("/proc/self/status")[/VmRSS:\s+(\d+)/, 1].to_i

    # The sessions of the database a URL names, counted from a connection of our own (Debian's
    # ruby-pg); that connection is itself one session, the same before and after.
    class Sessions
      def initialize(url)
        require "pg"
        @conn = PG.connect(url.sub(/\?.*\z/, ""))
      end

      def count
        @conn.exec("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()").getvalue(0, 0).to_i
      end

      def close = @conn.close
    end
  end
end

if $PROGRAM_NAME == __FILE__
  results = Bench::EngineCycles.from_argv(ARGV)
  results["stores"].each do |store, r|
    if r["skipped"]
      puts "#{store}: SKIPPED (#{r['skipped']})"
      next
    end
    rss = r["rss_kb"]
    counts = %w[threads fds connections].map do |k|
      "#{k} #{[r['at_start'], r['before'], r['after']].map { |c| c[k].inspect }.join(' / ')}"
    end
    puts format("%-8s %d cycles in %.0f s: RSS %d kB at start, %d kB after %d warm-up cycles, %d kB at the end " \
                "(growth %+d kB)", store, results["cycles"], r["seconds"], rss["start"], rss["after_warmup"],
                results["warmup"], rss["end"], rss["growth"])
    puts "         at start / after warm-up / at the end: #{counts.join(', ')}"
    puts "         RSS every 100 cycles (kB): #{rss['every_100'].map(&:last).join(' ')}"
  end
  Bench.write_json(results)
end
