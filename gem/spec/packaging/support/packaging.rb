# frozen_string_literal: true

require "fileutils"
require "json"
require "rbconfig"
require "rubygems/package"
require "tmpdir"

# What the packaging specs share: the gems built once per RSpec process by `rake gem`, child
# processes run with an environment of their own (an empty GEM_HOME, nothing from this
# checkout on the load path), and the order-fulfilment example copied out of the checkout.
#
# Nothing of the installed gem is ever loaded into the RSpec process: it would be a second
# copy of TaskerCore beside the checkout's.
module Packaging
  ROOT = File.expand_path("../../../..", __dir__)
  GEM_DIR = File.join(ROOT, "gem")
  # The order-fulfilment example (bin/demo), as files relative to fixtures/.
  EXAMPLE = %w[demo.rb handlers/shop.rb templates/shop/fulfil_order.yaml].freeze
  # Variables of this process that would choose for a child: where gems and libraries come
  # from, Bundler's settings, the suite's own switches.
  CLEARED = %w[GEM_HOME GEM_PATH RUBYOPT RUBYLIB BUNDLE_GEMFILE BUNDLE_APP_CONFIG BUNDLE_PATH BUNDLE_BIN_PATH
               BUNDLER_SETUP BUNDLER_VERSION RAILS_ENV RACK_ENV DATABASE_URL TASKER_DATABASE_URL
               USE_RUST_ORCHESTRATION TASKER_GC_STRESS TASKER_CORE_LIB].freeze
  # A PATH with the system's tools and no Rust toolchain (rustup installs into ~/.cargo/bin).
  PATH_WITHOUT_RUST = ENV.fetch("PATH").split(File::PATH_SEPARATOR)
                         .reject { |dir| File.executable?(File.join(dir, "cargo")) || File.executable?(File.join(dir, "rustc")) }
                         .join(File::PATH_SEPARATOR)

  # What a finished child did.
  Run = Struct.new(:command, :status, :stdout, :stderr, :seconds, keyword_init: true) do
    # @return [Boolean]
    def success? = status.success?

    # The command and its output, for a failure message.
    # @return [String]
    def to_s = "$ #{command.join(' ')}\n(exit #{status.exitstatus}, #{seconds.round(1)} s)\n#{stdout}\n#{stderr}"
  end

  module_function

  # The source gem and the precompiled gem, built by `rake gem` into a folder of this
  # process (once; later calls return the same files).
  # @return [Hash{Symbol => String}] :source and :native, paths of .gem files
  def gems
    @gems ||= begin
      out = Dir.mktmpdir("tasker-gems")
      at_exit { FileUtils.rm_rf(out) }
      run = run(["rake", "gem"], chdir: ROOT, env: { "TASKER_GEM_DIR" => out }, timeout: 900, clean: false)
      raise "rake gem failed:\n#{run}" unless run.success?

      version = File.read(File.join(GEM_DIR, "lib/tasker_core/version.rb"))[/VERSION = "([^"]+)"/, 1]
      { source: File.join(out, "tasker-core-rb-#{version}.gem"),
        native: File.join(out, "tasker-core-rb-#{version}-#{Gem::Platform.local}.gem") }
        .each_value { |path| raise "rake gem did not build #{path}:\n#{run}" unless File.file?(path) }
    end
  end

  # The files a .gem carries.
  # @return [Array<String>]
  def contents(gem_path) = Gem::Package.new(gem_path).contents

  # The environment of a child that must see only the gems in `gem_home` (and, with
  # `system_gems`, Debian's packaged gems), never this checkout.
  # @return [Hash{String => String, nil}]
  def env(gem_home, system_gems: false, path: ENV.fetch("PATH"))
    cleared = CLEARED.to_h { |name| [name, nil] }
    # GEM_PATH unset: RubyGems searches GEM_HOME and then its default (Debian's) folders.
    cleared.merge("GEM_HOME" => gem_home, "GEM_PATH" => system_gems ? nil : gem_home, "PATH" => path)
  end

  # Copies the order-fulfilment example (demo, handlers, template) into `dir`.
  # @return [String] the demo script's path
  def copy_example(dir)
    EXAMPLE.each do |file|
      FileUtils.mkdir_p(File.dirname(File.join(dir, file)))
      FileUtils.cp(File.join(ROOT, "fixtures", file), File.join(dir, file))
    end
    File.join(dir, "demo.rb")
  end

  # A script for `ruby -r` that prints, as the process exits, where TaskerCore came from:
  # `LOADED {"features": [...], "gem_dir": ..., "load_path": [...]}`.
  # @return [String] its path
  def write_probe(dir)
    path = File.join(dir, "loaded_probe.rb")
    File.write(path, <<~RUBY)
      at_exit do
        spec = Gem.loaded_specs["tasker-core-rb"]
        $stdout.puts "LOADED " + JSON.generate("features" => $LOADED_FEATURES.grep(/tasker[-_]core/),
                                               "gem_dir" => spec&.full_gem_path, "platform" => spec&.platform.to_s,
                                               "load_path" => $LOAD_PATH)
      end
      require "json"
    RUBY
    path
  end

  # The probe's report in a child's output.
  # @return [Hash]
  def loaded(run)
    line = run.stdout.lines.find { |l| l.start_with?("LOADED ") } or raise "no LOADED line in:\n#{run}"
    JSON.parse(line.delete_prefix("LOADED "))
  end

  # Runs `command` to its end in `chdir`, killing its process group after `timeout` seconds.
  # With `clean` (the default) the child starts from {CLEARED} unset, then `env`.
  # @return [Run]
  def run(command, chdir:, env: {}, timeout: 300, clean: true)
    log = File.join(Dir.mktmpdir("tasker-packaging-run"), "child")
    env = CLEARED.to_h { |name| [name, nil] }.merge(env) if clean
    started = monotonic
    pid = Process.spawn(env, *command, chdir: chdir, out: "#{log}.out", err: "#{log}.err", in: File::NULL, pgroup: true)
    status = wait(pid, timeout, command)
    Run.new(command: command, status: status, stdout: File.read("#{log}.out"), stderr: File.read("#{log}.err"),
            seconds: monotonic - started)
  ensure
    FileUtils.rm_rf(File.dirname(log)) if log
  end

  # @return [Float] seconds on the monotonic clock
  def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  # Waits for child `pid`; kills its process group after `timeout` seconds.
  # @return [Process::Status]
  def wait(pid, timeout, command)
    deadline = monotonic + timeout
    loop do
      _, status = Process.waitpid2(pid, Process::WNOHANG)
      return status if status

      if monotonic > deadline
        Process.kill("KILL", -pid)
        Process.waitpid(pid)
        raise "#{command.join(' ')} did not finish within #{timeout} s (killed)"
      end
      sleep 0.05
    end
  end
end
