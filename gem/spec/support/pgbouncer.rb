# frozen_string_literal: true

require "fileutils"
require "socket"
require "tmpdir"

# A PgBouncer of the spec's own in transaction pooling mode (Debian's `pgbouncer`), in front
# of the shared PostgreSQL server, on a free port, run as the postgres user (PgBouncer
# refuses to run as root). Its directory is removed at stop.
#
# Unavailable (no pgbouncer, not root): `SpecPgBouncer.missing` says why; with CI set the spec
# fails instead of skipping.
class SpecPgBouncer
  BIN = "/usr/sbin/pgbouncer"

  # Why PgBouncer cannot be started here, or nil.
  # @return [String, nil]
  def self.missing
    return "#{BIN} is missing (Debian package pgbouncer)" unless File.executable?(BIN)
    return "PgBouncer must run as the postgres user: the spec needs root (runuser)" unless Process.uid.zero?

    nil
  end

  attr_reader :port

  # @param host [String] the server's host
  # @param server_port [Integer] the server's port
  def initialize(host:, server_port:)
    @dir = Dir.mktmpdir("tasker-pgbouncer")
    @port = free_port
    File.write(File.join(@dir, "userlist.txt"), %("postgres" ""\n))
    File.write(File.join(@dir, "pgbouncer.ini"), <<~INI)
      [databases]
      * = host=#{host} port=#{server_port}

      [pgbouncer]
      listen_addr = 127.0.0.1
      listen_port = #{@port}
      unix_socket_dir =
      auth_type = trust
      auth_file = #{@dir}/userlist.txt
      pool_mode = transaction
      max_client_conn = 400
      default_pool_size = 20
      logfile = #{@dir}/pgbouncer.log
      pidfile = #{@dir}/pgbouncer.pid
    INI
    FileUtils.chmod(0o755, @dir)
    FileUtils.chown_R("postgres", "postgres", @dir)
  end

  # Starts PgBouncer (daemonised) and waits until it accepts connections; returns self.
  def start
    out = IO.popen(["runuser", "-u", "postgres", "--", BIN, "-d", File.join(@dir, "pgbouncer.ini")], err: %i[child out], &:read)
    raise "pgbouncer failed to start:\n#{out}\n#{log}" unless $?.success?

    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 15
    begin
      Socket.tcp("127.0.0.1", @port, connect_timeout: 1).close
    rescue SystemCallError
      raise "pgbouncer is not listening on #{@port}:\n#{log}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.1
      retry
    end
    self
  end

  # A URL of `database` through this PgBouncer, saying so with `prepared_statements=false`.
  # @return [String]
  def url(database) = "postgres://postgres@127.0.0.1:#{@port}/#{database}?prepared_statements=false"

  # PgBouncer's log, for failure messages.
  def log = File.exist?(File.join(@dir, "pgbouncer.log")) ? File.read(File.join(@dir, "pgbouncer.log")) : ""

  # Stops PgBouncer and removes its directory.
  def stop
    pidfile = File.join(@dir, "pgbouncer.pid")
    if File.exist?(pidfile)
      pid = Integer(File.read(pidfile))
      Process.kill("INT", pid)
      50.times do
        Process.kill(0, pid)
        sleep 0.1
      rescue Errno::ESRCH
        break
      end
    end
  rescue Errno::ESRCH
    nil
  ensure
    FileUtils.rm_rf(@dir)
  end

  private

  def free_port
    server = TCPServer.new("127.0.0.1", 0)
    server.addr[1]
  ensure
    server&.close
  end
end
