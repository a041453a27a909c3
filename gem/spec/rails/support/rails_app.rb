# frozen_string_literal: true

require "fileutils"
require "json"
require "net/http"
require "rbconfig"
require "socket"
require "tmpdir"
require "uri"

# Runs the shop app (gem/spec/rails_app) for real, in child processes: `bin/rails runner`,
# `bin/rails server` (WEBrick), `bin/rails db:schema:load`. Rails is never loaded into the
# RSpec process, so it cannot change how the rest of the suite behaves (ActiveSupport makes
# `instrument: :auto` instrument, Zeitwerk and at_exit hooks stay behind).
#
# Each instance works on a copy of the app in a temporary directory (its logs, pid files
# and edited handlers stay there) and on a database of its own: a SQLite file in the copy,
# or on PostgreSQL the database tasker_core_rails_spec_<pid>_<name> with the app's schema
# "shop", dropped by #cleanup.
class RailsApp
  SOURCE = File.expand_path("../../rails_app", __dir__)
  GEM_LIB = File.expand_path("../../../lib", __dir__)
  PG_PREFIX = "tasker_core_rails_spec_"

  # What a finished child did.
  Run = Struct.new(:status, :stdout, :stderr, :seconds, keyword_init: true) do
    def success? = status.success?

    # The runner script's `REPORT {...}` line, parsed.
    def report
      line = stdout.lines.find { |l| l.start_with?("REPORT ") } or raise "no REPORT line in:\n#{stdout}\n#{stderr}"
      JSON.parse(line.delete_prefix("REPORT "))
    end
  end

  attr_reader :root, :database

  # @param name [String] tells this app's database apart from other instances'
  # @param source [String] the app to copy
  def initialize(name, source: SOURCE)
    @root = Dir.mktmpdir("tasker-rails-#{name}")
    FileUtils.cp_r(File.join(source, "."), @root)
    @database = SpecStore.postgres? ? "#{PG_PREFIX}#{Process.pid}_#{name}" : File.join(@root, "db", "shop.sqlite3")
    @servers = []
  end

  def postgres? = SpecStore.postgres?

  # Creates the database (PostgreSQL: a fresh database with schema "shop") and loads the
  # app's schema with `bin/rails db:schema:load`, the way a developer would.
  # @return [Run]
  def prepare
    if postgres?
      self.class.drop_stale_databases
      psql("postgres", "DROP DATABASE IF EXISTS #{database}", "CREATE DATABASE #{database}")
      psql(database, "CREATE SCHEMA shop")
    end
    rails("db:schema:load", env: { "RAILS_ENV" => "test" })
  end

  # Environment of every child: where the gem and the database are, and nothing from the
  # RSpec process that would choose for the app (TASKER_DATABASE_URL, RAILS_ENV...).
  def env
    base = { "TASKER_CORE_LIB" => GEM_LIB, "TASKER_DATABASE_URL" => nil, "DATABASE_URL" => nil, "RAILS_ENV" => nil,
             "RACK_ENV" => nil, "BUNDLE_GEMFILE" => nil, "USE_RUST_ORCHESTRATION" => nil, "TASKER_GC_STRESS" => nil }
    if postgres?
      uri = URI.parse(SpecStore::PG_URL.sub(/\Apostgres(ql)?:/, "http:"))
      base.merge("SHOP_DB" => "postgres", "SHOP_PG_HOST" => uri.host || "127.0.0.1", "SHOP_PG_PORT" => (uri.port || 5432).to_s,
                 "SHOP_PG_USER" => uri.user || "postgres", "SHOP_PG_DATABASE" => database)
    else
      base.merge("SHOP_DB" => "sqlite", "SHOP_SQLITE_DATABASE" => database)
    end
  end

  # Runs `bin/rails ARGS` to its end (killed after `timeout` seconds).
  # @return [Run]
  def rails(*args, env: {}, timeout: 60)
    run_child([RbConfig.ruby, "bin/rails", *args], env: env, timeout: timeout)
  end

  # Runs a command in the app's directory to its end (killed after `timeout` seconds),
  # with `stdin` as its input.
  # @return [Run]
  def run_child(command, env: {}, stdin: nil, timeout: 60)
    out = File.join(root, "tmp", "child-#{Process.clock_gettime(Process::CLOCK_MONOTONIC, :nanosecond)}")
    FileUtils.mkdir_p(File.dirname(out))
    File.write("#{out}.in", stdin.to_s)
    started = monotonic
    pid = Process.spawn(self.env.merge(env), *command, chdir: root, out: "#{out}.out", err: "#{out}.err",
                                                     in: "#{out}.in", pgroup: true)
    status = wait(pid, timeout)
    Run.new(status: status, stdout: File.read("#{out}.out"), stderr: File.read("#{out}.err"),
            seconds: monotonic - started)
  end

  # Starts `bin/rails server` (WEBrick) and waits until GET /up answers.
  # @return [Server]
  def start_server(env: {}, rails_env: "development", timeout: 30)
    port = free_port
    log = File.join(root, "tmp", "server-#{port}")
    FileUtils.mkdir_p(File.dirname(log))
    # A pid file of its own: with Rails' shared tmp/pids/server.pid, a server an earlier
    # example left running (it failed before stopping it) made this one exit at boot ("A
    # server is already running"), failing an example that had done nothing wrong.
    pid = Process.spawn(self.env.merge(env), RbConfig.ruby, "bin/rails", "server", "-e", rails_env, "-b", "127.0.0.1",
                        "-p", port.to_s, "-P", "#{log}.pid", chdir: root, out: "#{log}.out", err: "#{log}.err",
                        in: File::NULL, pgroup: true)
    server = Server.new(pid, port, "#{log}.out", "#{log}.err")
    @servers << server
    server.wait_until_up(timeout)
    server
  end

  # Starts `bin/rails ARGS` and leaves it running (a worker: `tasker_core:work`); stop it
  # with Server#stop. Waits until its stdout matches `ready`.
  # @return [Server] with no port
  def start_child(*args, env: {}, ready:, timeout: 60)
    log = File.join(root, "tmp", "child-#{Process.clock_gettime(Process::CLOCK_MONOTONIC, :nanosecond)}")
    FileUtils.mkdir_p(File.dirname(log))
    pid = Process.spawn(self.env.merge(env), RbConfig.ruby, "bin/rails", *args, chdir: root, out: "#{log}.out",
                                                                               err: "#{log}.err", in: File::NULL, pgroup: true)
    child = Server.new(pid, nil, "#{log}.out", "#{log}.err")
    @servers << child
    child.wait_for_output(ready, timeout)
    child
  end

  # The app's log for a Rails environment.
  # @return [String]
  def log(rails_env)
    path = File.join(root, "log", "#{rails_env}.log")
    File.exist?(path) ? File.read(path) : ""
  end

  # Tasker's tables in the engine's store: on PostgreSQL in the app's database (schema
  # shop); on SQLite in the engine's own file beside the app's.
  # @return [Array<String>]
  def tasker_tables
    if postgres?
      psql(database, "SELECT table_schema || '.' || table_name FROM information_schema.tables " \
                     "WHERE table_name LIKE 'tasker%' ORDER BY 1", capture: true).split
    else
      file = database.sub(/\.sqlite3\z/, ".tasker_core.sqlite3")
      return [] unless File.exist?(file)

      # A child process reads it: this process must not open SQLite files with a second copy
      # of SQLite either (see TaskerCore::Rails::DatabaseUrl).
      script = "require 'sqlite3'; puts SQLite3::Database.new(ARGV[0]).execute(\"SELECT name FROM sqlite_master " \
               "WHERE type = 'table' AND name LIKE 'tasker%'\").flatten"
      IO.popen([RbConfig.ruby, "-e", script, file], &:read).split
    end
  end

  # Runs one SQL query on the app's PostgreSQL database.
  # @return [String] psql's unaligned output
  def query(sql)
    psql(database, sql, capture: true)
  end

  # Rewrites a file of the app copy (a handler, to see reloading).
  # @return [void]
  def write(relative_path, text)
    File.write(File.join(root, relative_path), text)
  end

  # Stops servers still running, drops the PostgreSQL database, removes the copy.
  # @return [void]
  def cleanup
    @servers.each(&:kill)
    psql("postgres", "DROP DATABASE IF EXISTS #{database} WITH (FORCE)") if postgres?
    FileUtils.rm_rf(root)
  end

  # Databases of earlier runs whose process is gone (a run that was killed).
  def self.drop_stale_databases
    names = psql("postgres", "SELECT datname FROM pg_database WHERE datname LIKE '#{PG_PREFIX}%'", capture: true).split
    names.each do |name|
      pid = name.delete_prefix(PG_PREFIX).to_i
      next if pid == Process.pid || (pid.positive? && process_alive?(pid))

      psql("postgres", "DROP DATABASE IF EXISTS #{name} WITH (FORCE)")
    end
  end

  def self.process_alive?(pid)
    Process.kill(0, pid)
    true
  rescue Errno::ESRCH
    false
  rescue Errno::EPERM
    true
  end

  # A `bin/rails server` child.
  class Server
    attr_reader :pid, :port, :exit_status, :stop_seconds

    def initialize(pid, port, out, err)
      @pid = pid
      @port = port
      @out = out
      @err = err
    end

    # Output so far, for failure messages.
    def output = "#{File.read(@out)}\n#{File.read(@err)}"

    # Standard output so far.
    def stdout = File.read(@out)

    # Waits until standard output matches `pattern`.
    def wait_for_output(pattern, timeout)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      until stdout.match?(pattern)
        raise "#{pid} exited before printing #{pattern.inspect}:\n#{output}" if Process.waitpid(pid, Process::WNOHANG)
        raise "#{pid} did not print #{pattern.inspect} within #{timeout} s:\n#{output}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

        sleep 0.1
      end
    end

    def wait_until_up(timeout)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      loop do
        return get("/up") if up?
        raise "the server exited while booting:\n#{output}" if Process.waitpid(pid, Process::WNOHANG)
        raise "the server did not answer within #{timeout} s:\n#{output}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

        sleep 0.1
      end
    end

    # @return [Hash] the parsed JSON answer
    def get(path)
      response = Net::HTTP.start("127.0.0.1", port, open_timeout: 2, read_timeout: 30) { |http| http.get(path) }
      raise "GET #{path}: #{response.code}\n#{response.body}" unless response.is_a?(Net::HTTPSuccess)

      JSON.parse(response.body)
    end

    # @return [Net::HTTPResponse]
    def post(path, body)
      Net::HTTP.start("127.0.0.1", port, open_timeout: 2, read_timeout: 30) do |http|
        http.post(path, JSON.generate(body), "Content-Type" => "application/json", "Accept" => "application/json")
      end
    end

    # Sends `signal` and waits up to `timeout` seconds for the process to end.
    # @return [Process::Status, nil] nil when it did not end
    def stop(signal = "TERM", timeout: 15)
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      Process.kill(signal, pid)
      deadline = started + timeout
      until (done = Process.waitpid2(pid, Process::WNOHANG))
        return nil if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

        sleep 0.02
      end
      @stop_seconds = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
      @exit_status = done.last
    end

    def kill
      return if @exit_status

      Process.kill("KILL", -pid)
      Process.waitpid(pid)
    rescue Errno::ESRCH, Errno::ECHILD
      nil
    end

    private

    def up?
      Net::HTTP.start("127.0.0.1", port, open_timeout: 0.5, read_timeout: 5) { |http| http.get("/up") }.is_a?(Net::HTTPSuccess)
    rescue SystemCallError, Net::OpenTimeout, Net::ReadTimeout, EOFError
      false
    end
  end

  private

  def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  def wait(pid, timeout)
    deadline = monotonic + timeout
    loop do
      _, status = Process.waitpid2(pid, Process::WNOHANG)
      return status if status

      if monotonic > deadline
        Process.kill("KILL", -pid)
        Process.waitpid(pid)
        raise "bin/rails did not finish within #{timeout} s (killed)"
      end
      sleep 0.02
    end
  end

  def free_port
    server = TCPServer.new("127.0.0.1", 0)
    server.addr[1]
  ensure
    server&.close
  end

  def psql(db, *statements, capture: false)
    self.class.psql(db, *statements, capture: capture)
  end

  # Runs each statement on its own (DROP DATABASE refuses to share a transaction).
  def self.psql(db, *statements, capture: false)
    url = SpecStore::PG_URL.sub(%r{/[^/?]*(\?|\z)}, "/#{db}\\1")
    args = ["psql", url, "-q", "-At", "-v", "ON_ERROR_STOP=1"]
    statements.each { |sql| args += ["-c", sql] }
    quiet = { "PGOPTIONS" => "-c client_min_messages=warning" }
    if capture
      IO.popen(quiet, args, err: File::NULL, &:read)
    else
      system(quiet, *args, out: File::NULL) or raise "psql failed: #{statements.join('; ')}"
    end
  end
end
