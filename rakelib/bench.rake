# frozen_string_literal: true

# rake bench: the benchmark suite of issues 2 to 8. Runs the Rust benches (the resolver's
# readiness benches, criterion; the SQL readiness function against the resolver on
# PostgreSQL) and the Ruby benches (per-call cost; throughput against plain Ruby; durable
# throughput and latency on SQLite and PostgreSQL; event delivery; Ractor handlers; graph analysis; insights;
# small workflows against Sidekiq, issue 15; worker processes on one PostgreSQL database, issue 16;
# start/run/close cycles of an engine, issue 23),
# keeps what they measured in target/bench/,
# and writes docs/benchmarks.md from it. About twenty-five minutes once everything is compiled, most
# of it issue 15's workload bench (its 1,000,000-task fills; TASKER_BENCH_FILL=100000 for a quick
# run) and issue 23's engine cycles (about five minutes).
# `rake bench:rust` and `rake bench:ruby` run one half, `rake bench:durable` issue 3's benches,
# `rake bench:workload` issue 15's (small workflows, the fills, Sidekiq, the ceilings),
# `rake bench:cycles` issue 23's (1,000 engine start/run/close cycles per store);
# none of them writes the document. Without PostgreSQL the benches that need it print a
# SKIPPED line and the document says so.

require "fileutils"
require "rbconfig"

# Paths and commands of the benchmark run.
module BenchRun
  ROOT = File.expand_path("..", __dir__)
  # Results of the latest run; build output, never committed (target/ is ignored).
  DIR = "target/bench"
  DOC = "docs/benchmarks.md"
  # Rust benches: log name (target/bench/<name>.log) => command. Criterion keeps its
  # estimates in target/bench/criterion.
  RUST_BENCHES = {
    "readiness" => %w[cargo bench -p tasker-resolver --bench readiness],
    "sql_readiness" => %w[cargo bench -p tasker-state --bench sql_readiness],
    "insights_scale" => %w[cargo bench -p tasker-state --bench insights_scale],
    "ceiling" => %w[cargo bench -p tasker-state --bench ceiling]
  }.freeze
  CRITERION_BENCHES = %w[readiness].freeze
  RUBY_BENCHES = %w[call_cost throughput durable_throughput durable_latency events ractors ractor_submit graph insights
                    workload processes engine_cycles idempotent_submit operating_cost].freeze
  # Issue 3's benches, for `rake bench:durable`.
  DURABLE_RUST = %w[sql_readiness].freeze
  DURABLE_RUBY = %w[durable_throughput durable_latency].freeze
  # Issue 15's benches, for `rake bench:workload`: the ceilings, then the workload (with its
  # 1,000,000-task fills and the Sidekiq baseline; TASKER_BENCH_FILL makes the fill smaller).
  WORKLOAD_RUST = %w[ceiling].freeze
  WORKLOAD_RUBY = %w[workload].freeze

  module_function

  # Starts with an empty results folder, so no number of an earlier run can reach the doc.
  def reset
    FileUtils.rm_rf(path(DIR))
    FileUtils.mkdir_p(path(DIR))
  end

  def path(relative) = File.join(ROOT, relative)

  # Runs the Rust benches; each one's output (with its `readiness-bench:` or
  # `sql-readiness-bench:` line) goes to target/bench/<name>.log as well as the terminal.
  # @return [Array<String>] the commands as they were run
  def rust(names = RUST_BENCHES.keys)
    FileUtils.mkdir_p(path(DIR))
    env = { "CRITERION_HOME" => path("#{DIR}/criterion") }
    names.map do |name|
      argv = RUST_BENCHES.fetch(name)
      command = "#{CRITERION_BENCHES.include?(name) ? "CRITERION_HOME=#{DIR}/criterion " : ''}#{argv.join(' ')}"
      puts command
      File.open(path("#{DIR}/#{name}.log"), "w") do |log|
        IO.popen(env, argv, chdir: ROOT, err: %i[child out]) do |io|
          io.each_line do |line|
            $stdout.print(line)
            log.print(line)
          end
        end
      end
      raise "#{command} failed (#{$?})" unless $?.success?

      command
    end
  end

  # Runs each Ruby bench with the interpreter running rake.
  # @return [Array<String>] the commands as they were run
  def ruby(names = RUBY_BENCHES)
    FileUtils.mkdir_p(path(DIR))
    names.map do |name|
      args = ["benches/#{name}.rb", "--json", "#{DIR}/#{name}.json"]
      command = "ruby #{args.join(' ')}"
      puts command
      Dir.chdir(ROOT) { system(RbConfig.ruby, *args) or raise "#{command} failed" }
      command
    end
  end

  # The 1, 5 and 15 minute load averages: other work on the machine shows in the numbers.
  def load_average
    File.read("/proc/loadavg").split.first(3).join(", ")
  rescue SystemCallError
    nil
  end

  # Writes docs/benchmarks.md from the results folder; the hand-written blocks of the old
  # document are carried over (Bench::DocSections).
  def report(commands, load_before:)
    require path("benches/support/report")
    require path("benches/support/doc_sections")
    before = File.read(path(DOC))
    Bench::Report.new(dir: path(DIR), commands: commands, root: ROOT, load_before: load_before).write(path(DOC))
    EngineCyclesSection.insert(path(DOC), path("#{DIR}/engine_cycles.json"))
    IdempotentSection.insert(path(DOC), path("#{DIR}/idempotent_submit.json"))
    require path("benches/support/operating_report")
    Bench::OperatingReport.insert(path(DOC), path("#{DIR}/operating_cost.json"))
    kept = Bench::DocSections.carry_over(before, path(DOC))
    puts "wrote #{DOC} (#{kept} hand-written blocks carried over)"
  end

  # The "Engine cycles (issue 23)" section of docs/benchmarks.md, from engine_cycles.json
  # (benches/engine_cycles.rb), placed before "How each number was measured". It lives here
  # rather than in benches/support/report.rb, which the issue-23 memory work did not own;
  # moving it there, mixed into Bench::Report like the other sections, is a pure move.
  # Loads no gem code.
  module EngineCyclesSection
    COMMAND = "ruby benches/engine_cycles.rb --json target/bench/engine_cycles.json"
    GROWTH_TARGET_KB = 5 * 1024

    module_function

    def insert(doc, json)
      Bench::DocSections.insert_before_method(doc, render(JSON.parse(File.read(json)))) if File.exist?(json)
    end

    def render(results)
      rows = results["stores"].map { |store, r| rows(store, r, results) }.join("\n")
      <<~MD
        ## Engine cycles (issue 23)

        #{num(results['cycles'])} cycles per store, after #{results['warmup']} warm-up cycles, in one Ruby
        process: start an engine (#{results['workers']} worker threads) on the store, register a
        two-step template, submit a task, wait for it, close. One SQLite file and one PostgreSQL
        schema per store, reused by every cycle. RSS is read after a full GC; threads
        (`/proc/self/task`), descriptors (`/proc/self/fd`) and the database's sessions
        (`pg_stat_activity`, the counting connection included) are counted without a GC once they
        settle, before the first cycle / after the warm-up / after the last. Target: RSS growth
        ≤ 5 MB from the end of the warm-up, and the counts back to their values after it (the
        warm-up makes what a process makes once, e.g. tokio's signal socket pair). Command (also
        run by `rake bench`):

        ```
        #{COMMAND}
        ```

        | Store | RSS after warm-up | RSS at the end | Growth | Target | Met | Threads | Descriptors | Sessions |
        | --- | --- | --- | --- | --- | --- | --- | --- | --- |
        #{rows}
      MD
    end

    def rows(store, r, results)
      return "| #{store} | SKIPPED: #{r['skipped']} | | | | | | | |" if r["skipped"]

      rss = r["rss_kb"]
      counts = %w[threads fds connections].map do |k|
        [r["at_start"], r["before"], r["after"]].map { |c| c[k].nil? ? "–" : c[k].to_s }.join(" / ")
      end
      met = rss["growth"] <= GROWTH_TARGET_KB &&
            %w[threads fds connections].all? { |k| r["before"][k] == r["after"][k] }
      "| #{store} | #{mb(rss['after_warmup'])} | #{mb(rss['end'])} | #{format('%+.1f MB', rss['growth'] / 1024.0)} " \
        "over #{num(results['cycles'])} cycles | ≤ 5 MB, counts back | #{met ? 'yes' : 'no'} | #{counts.join(' | ')} |"
    end

    def mb(kb) = format("%.1f MB", kb / 1024.0)
    def num(n) = n.to_s.reverse.scan(/\d{1,3}/).join(",").reverse
  end

  # The "Idempotent submission (issue 17)" section of docs/benchmarks.md, from
  # idempotent_submit.json (benches/idempotent_submit.rb), placed like EngineCyclesSection.
  module IdempotentSection
    COMMAND = "ruby benches/idempotent_submit.rb --json target/bench/idempotent_submit.json"

    module_function

    def insert(doc, json)
      Bench::DocSections.insert_before_method(doc, render(JSON.parse(File.read(json)))) if File.exist?(json)
    end

    def render(results)
      rows = results["results"].map do |store, r|
        next "| #{store} | SKIPPED: #{r['skipped']} | | | |" if r["skipped"]

        cells = %w[plain durable identified_new identified_repeat].map { |k| format("%.1f µs", r[k] * 1e6) }
        "| #{store} | #{cells.join(' | ')} |"
      end
      <<~MD
        ## Idempotent submission (issue 17)

        Wall time per submit, sequential, one engine per store with no workers (only the
        submission is timed): `plain` is `submit_task` without `identity:` (#{results['plain_calls']} calls; the
        feature adds one `nil` check to it), `durable` is `submit_task(durable: true)` (the
        baseline for an identified submit, which also waits for the commit), `identified, new`
        is `submit_once` with a new key per call (store read, commit, start), `identified,
        repeat` the same keys again (the store read only); #{results['calls']} calls each. Command (also run by
        `rake bench`):

        ```
        #{COMMAND}
        ```

        | Store | plain | durable | identified, new | identified, repeat |
        | --- | --- | --- | --- | --- |
        #{rows.join("\n")}
      MD
    end
  end
end

namespace :bench do
  desc "Run the Rust benches (readiness, criterion; SQL readiness against the resolver) only"
  task :rust do
    BenchRun.rust
  end

  desc "Run the Ruby benches (per-call cost, throughput, durable throughput and latency) only"
  task ruby: :compile do
    BenchRun.ruby
  end

  desc "Run issue 3's durable-state benches (SQL readiness, durable throughput and latency) only"
  task durable: :compile do
    BenchRun.rust(BenchRun::DURABLE_RUST)
    BenchRun.ruby(BenchRun::DURABLE_RUBY)
  end

  desc "Run issue 17's idempotent-submission bench (per-submit cost with and without identity) only"
  task idempotent: :compile do
    BenchRun.ruby(%w[idempotent_submit])
  end

  desc "Run issue 17's operating-cost bench (timeouts, priority, concurrency limits against none) only"
  task operating: :compile do
    BenchRun.ruby(%w[operating_cost])
  end

  desc "Run issue 23's engine-cycle bench (1,000 start/run/close cycles per store) only"
  task cycles: :compile do
    BenchRun.ruby(%w[engine_cycles])
  end

  desc "Run issue 15's benches (the ceilings, then small workflows on each store, after the fill, and Sidekiq) only"
  task workload: :compile do
    started = Time.now
    BenchRun.rust(BenchRun::WORKLOAD_RUST)
    BenchRun.ruby(BenchRun::WORKLOAD_RUBY)
    puts format("rake bench:workload took %.0f s", Time.now - started)
  end
end

desc "Run every benchmark and write docs/benchmarks.md from the numbers measured"
task bench: :compile do
  started = Time.now
  load_before = BenchRun.load_average
  BenchRun.reset
  commands = ["rake compile    # cargo build --release -p tasker-core-ext, then copy the .so into gem/lib"]
  commands.concat(BenchRun.rust)
  commands.concat(BenchRun.ruby)
  BenchRun.report(commands, load_before: load_before)
  puts format("rake bench took %.0f s", Time.now - started)
end
