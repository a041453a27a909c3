# frozen_string_literal: true

require "fileutils"
require "socket"
require "tmpdir"
require_relative "workload_support"

module Bench
  # Sidekiq + Redis running the same chained 4-step workflow as benches/workload.rb, in the
  # same run, as issue 15's baseline (not durable: Redis keeps the jobs in memory).
  #
  # - the jobs: benches/support/sidekiq_workload.rb (job n enqueues job n + 1; job 4 pushes
  #   the workflow's id to a results list);
  # - the server: `sidekiq -r benches/support/sidekiq_workload.rb -c 4 -q workload_bench -t 1`,
  #   a child process of this one, stopped (TERM, by its pid) at the end;
  # - Redis: the local server (SIDEKIQ_WORKLOAD_REDIS_URL, default redis://127.0.0.1:6379/13,
  #   a db number nothing else here uses), flushed before and after. When nothing answers
  #   there and no URL was given, a private `redis-server` (Debian's redis-server) is started
  #   on a free port for the run and stopped after it, so the baseline does not depend on a
  #   service being up.
  #
  # {#run} returns {"skipped" => why} when Sidekiq cannot be loaded (Debian's ruby-sidekiq
  # missing), Redis does not answer, or the server does not start.
  class WorkloadSidekiq
    JOBS = File.expand_path("sidekiq_workload.rb", __dir__)
    DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
    CONCURRENCY = 4
    START_TIMEOUT = 60
    WAIT_TIMEOUT = 60

    def initialize
      @own_url = ENV.key?("SIDEKIQ_WORKLOAD_REDIS_URL")
      @redis_url = ENV["SIDEKIQ_WORKLOAD_REDIS_URL"] ||= DEFAULT_REDIS_URL
    end

    # @param tasks [Integer] workflows enqueued at once in one repetition
    # @param repetitions [Integer]
    # @param warm_up [Integer] serial workflows before the samples
    # @param samples [Integer] serial workflows timed
    # @return [Hash] JSON-ready results, or {"skipped" => why}
    def run(tasks:, repetitions:, warm_up:, samples:)
      why = load_sidekiq
      why = start_private_redis && load_sidekiq if why&.start_with?("Redis unreachable")
      return { "skipped" => why } if why

      log = File.join(Dir.tmpdir, "tasker_core_bench_sidekiq_#{Process.pid}.log")
      @pid = start_server(log)
      started = Bench.now
      return { "skipped" => "the Sidekiq server did not run a workflow within #{START_TIMEOUT} s (see #{log})" } unless ready?

      startup = Bench.now - started
      runs = Array.new(repetitions) { at_once(tasks) }
      warm_up.times { |i| serial_one(1_000_000 + i) }
      latencies = Array.new(samples) { |i| serial_one(2_000_000 + i) }
      { "version" => Sidekiq::VERSION, "redis_version" => redis { |r| r.info["redis_version"] },
        "redis_url" => @redis_url, "concurrency" => CONCURRENCY, "steps" => SidekiqWorkload::STEPS,
        "tasks" => tasks, "server_ready_seconds" => startup,
        "steps_per_second" => Bench.rate_summary(runs.map { |s| tasks * SidekiqWorkload::STEPS / s }),
        "serial" => WorkloadSupport.latency_summary(latencies).merge("warm_up" => warm_up, "samples" => samples),
        "command" => "sidekiq -r #{relative(JOBS)} -c #{CONCURRENCY} -q #{SidekiqWorkload::QUEUE} -t 1" }
    ensure
      stop_server
      begin
        redis(&:flushdb) if defined?(SidekiqWorkload)
      rescue StandardError
        nil
      end
      stop_private_redis
    end

    private

    # @return [String, nil] why Sidekiq cannot run here
    def load_sidekiq
      require JOBS
      redis(&:flushdb)
      nil
    rescue LoadError => e
      "Sidekiq is not installed (#{e.message}; Debian: apt-get install ruby-sidekiq)"
    rescue StandardError => e
      "Redis unreachable at #{@redis_url} (#{e.class}: #{e.message})"
    end

    def redis(&block) = Sidekiq.redis(&block)

    # Starts `redis-server` on a free port (no persistence) when the default URL did not
    # answer and none was given; returns true once it answers.
    def start_private_redis
      return false if @own_url || !system("command -v redis-server >/dev/null 2>&1")

      port = TCPServer.open("127.0.0.1", 0) { |s| s.addr[1] }
      @redis_dir = Dir.mktmpdir("tasker_core_bench_redis")
      @redis_pid = Process.spawn("redis-server", "--port", port.to_s, "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", @redis_dir,
                                 out: File::NULL, err: File::NULL)
      @redis_url = ENV["SIDEKIQ_WORKLOAD_REDIS_URL"] = "redis://127.0.0.1:#{port}/13"
      Sidekiq.configure_client { |config| config.redis = { url: @redis_url } }
      deadline = Bench.now + 10
      loop do
        return true if (TCPSocket.new("127.0.0.1", port).close || true)
      rescue SystemCallError
        return false if Bench.now > deadline

        sleep 0.05
      end
    end

    def stop_private_redis
      return unless @redis_pid

      Process.kill("TERM", @redis_pid)
      Process.wait(@redis_pid)
      FileUtils.rm_rf(@redis_dir)
      @redis_pid = nil
    rescue Errno::ESRCH, Errno::ECHILD
      @redis_pid = nil
    end

    def start_server(log)
      sidekiq = ENV["SIDEKIQ_BIN"] || "sidekiq"
      Process.spawn({ "SIDEKIQ_WORKLOAD_REDIS_URL" => @redis_url }, sidekiq, "-r", JOBS, "-c", CONCURRENCY.to_s,
                    "-q", SidekiqWorkload::QUEUE, "-t", "1", out: log, err: log)
    end

    # Runs one workflow through the server: true once it completed.
    def ready?
      SidekiqWorkload::Step.perform_async(0, 1)
      !redis { |r| r.blpop(SidekiqWorkload::RESULTS, timeout: START_TIMEOUT) }.nil?
    end

    # Seconds from the first enqueue to the last completion read of `tasks` workflows.
    def at_once(tasks)
      started = Bench.now
      tasks.times { |i| SidekiqWorkload::Step.perform_async(i + 1, 1) }
      done = 0
      redis do |r|
        while done < tasks
          r.blpop(SidekiqWorkload::RESULTS, timeout: WAIT_TIMEOUT) or raise "Sidekiq: #{done} of #{tasks} workflows done after waiting #{WAIT_TIMEOUT} s"
          done += 1
        end
      end
      Bench.now - started
    end

    def serial_one(id)
      started = Bench.now
      SidekiqWorkload::Step.perform_async(id, 1)
      got = redis { |r| r.blpop(SidekiqWorkload::RESULTS, timeout: WAIT_TIMEOUT) }
      raise "Sidekiq: workflow #{id} not done within #{WAIT_TIMEOUT} s" unless got && got.last.to_i == id

      Bench.now - started
    end

    def stop_server
      return unless @pid

      Process.kill("TERM", @pid)
      deadline = Bench.now + 15
      until Process.wait(@pid, Process::WNOHANG)
        if Bench.now > deadline
          Process.kill("KILL", @pid)
          Process.wait(@pid)
          break
        end
        sleep 0.05
      end
      @pid = nil
    rescue Errno::ESRCH, Errno::ECHILD
      @pid = nil
    end

    def relative(path) = path.delete_prefix("#{ROOT}/")
  end
end
