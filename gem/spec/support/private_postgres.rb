# frozen_string_literal: true

require "fileutils"
require "socket"
require "tmpdir"

# A PostgreSQL server of the spec's own, for specs that restart or stop the server: Debian's
# initdb and pg_ctl, run as the postgres user (the suite runs as root in CI), on a free port,
# in a temporary directory removed at stop. The shared server on 5432 is never touched.
#
# Unavailable (not root, no initdb): `PrivatePostgres.missing` says why; with CI set the
# spec fails instead of skipping, so the restart test cannot vanish from CI unnoticed.
class PrivatePostgres
  BIN = Dir["/usr/lib/postgresql/*/bin"].max_by { |d| d[%r{/(\d+)/bin}, 1].to_i }

  # Why a private server cannot be started here, or nil.
  # @return [String, nil]
  def self.missing
    return "no PostgreSQL server binaries under /usr/lib/postgresql" unless BIN && File.executable?(File.join(BIN, "initdb"))
    return "initdb must run as the postgres user: the spec needs root (runuser)" unless Process.uid.zero? && system("id postgres", out: File::NULL, err: File::NULL)

    nil
  end

  attr_reader :port

  def initialize
    @dir = Dir.mktmpdir("tasker-private-pg")
    FileUtils.chmod(0o755, @dir)
    @data = File.join(@dir, "data")
    FileUtils.mkdir_p(@data)
    FileUtils.chown_R("postgres", "postgres", @dir)
    @port = free_port
  end

  # initdb and start; returns self.
  def start
    as_postgres(File.join(BIN, "initdb"), "-D", @data, "-A", "trust", "-U", "postgres", "--no-sync")
    ctl("start")
    self
  end

  # A URL of a database on this server.
  # @return [String]
  def url(database = "postgres") = "postgres://postgres@127.0.0.1:#{@port}/#{database}"

  # `pg_ctl restart -m fast`, what `pg_ctlcluster … restart` does: every session is ended.
  def restart = ctl("restart", "-m", "fast")

  # Stops the server and removes its directory.
  def stop
    ctl("stop", "-m", "immediate") if File.exist?(File.join(@data, "postmaster.pid"))
  ensure
    FileUtils.rm_rf(@dir)
  end

  private

  def ctl(*args)
    options = "-p #{@port} -k #{@dir} -c listen_addresses=127.0.0.1 -c autovacuum=off -c fsync=off"
    as_postgres(File.join(BIN, "pg_ctl"), "-D", @data, "-w", "-t", "60", "-l", File.join(@dir, "server.log"), "-o", options, *args)
  end

  def as_postgres(*command)
    out = IO.popen(["runuser", "-u", "postgres", "--", *command], err: %i[child out], &:read)
    raise "#{command.first(2).join(' ')} failed:\n#{out}" unless $?.success?
  end

  def free_port
    server = TCPServer.new("127.0.0.1", 0)
    server.addr[1]
  ensure
    server&.close
  end
end
