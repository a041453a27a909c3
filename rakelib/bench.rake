# frozen_string_literal: true

# rake bench: issue 2's benchmark suite. Runs the Rust readiness benches (criterion) and the
# Ruby benches (per-call cost; throughput against plain Ruby), keeps what they measured in
# target/bench/, and writes docs/benchmarks.md from it. About a minute once everything is
# compiled. `rake bench:rust` and `rake bench:ruby` run one half and write no document.

require "fileutils"
require "rbconfig"

# Paths and commands of the benchmark run.
module BenchRun
  ROOT = File.expand_path("..", __dir__)
  # Results of the latest run; build output, never committed (target/ is ignored).
  DIR = "target/bench"
  DOC = "docs/benchmarks.md"
  RUST = %w[cargo bench -p tasker-resolver --bench readiness].freeze
  RUBY_BENCHES = %w[call_cost throughput].freeze

  module_function

  # Starts with an empty results folder, so no number of an earlier run can reach the doc.
  def reset
    FileUtils.rm_rf(path(DIR))
    FileUtils.mkdir_p(path(DIR))
  end

  def path(relative) = File.join(ROOT, relative)

  # Runs criterion; its estimates land in target/bench/criterion, its output (with the
  # `readiness-bench:` line) in target/bench/readiness.log as well as on the terminal.
  # @return [String] the command as it was run
  def rust
    FileUtils.mkdir_p(path(DIR))
    env = { "CRITERION_HOME" => path("#{DIR}/criterion") }
    command = "CRITERION_HOME=#{DIR}/criterion #{RUST.join(' ')}"
    puts command
    File.open(path("#{DIR}/readiness.log"), "w") do |log|
      IO.popen(env, RUST, chdir: ROOT, err: %i[child out]) do |io|
        io.each_line do |line|
          $stdout.print(line)
          log.print(line)
        end
      end
    end
    raise "#{command} failed (#{$?})" unless $?.success?

    command
  end

  # Runs each Ruby bench with the interpreter running rake.
  # @return [Array<String>] the commands as they were run
  def ruby
    FileUtils.mkdir_p(path(DIR))
    RUBY_BENCHES.map do |name|
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

  # Writes docs/benchmarks.md from the results folder.
  def report(commands, load_before:)
    require path("benches/support/report")
    Bench::Report.new(dir: path(DIR), commands: commands, root: ROOT, load_before: load_before).write(path(DOC))
    puts "wrote #{DOC}"
  end
end

namespace :bench do
  desc "Run the Rust readiness benches (criterion) only"
  task :rust do
    BenchRun.rust
  end

  desc "Run the Ruby benches (per-call cost, throughput against plain Ruby) only"
  task ruby: :compile do
    BenchRun.ruby
  end
end

desc "Run every benchmark and write docs/benchmarks.md from the numbers measured"
task bench: :compile do
  started = Time.now
  load_before = BenchRun.load_average
  BenchRun.reset
  commands = ["rake compile    # cargo build --release -p tasker-core-ext, then copy the .so into gem/lib"]
  commands << BenchRun.rust
  commands.concat(BenchRun.ruby)
  BenchRun.report(commands, load_before: load_before)
  puts format("rake bench took %.0f s", Time.now - started)
end
