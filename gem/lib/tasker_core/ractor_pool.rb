# frozen_string_literal: true

module TaskerCore
  # Runs the steps of `execution: ractor` handlers in Ractors, in parallel on every core.
  #
  #   engine = TaskerCore::Engine.start(templates: "config/tasker", workers: 4, ractors: 2)
  #   # or: TaskerCore::RactorPool.new(engine, size: 2).start
  #
  # Duties:
  # - each Ractor holds the engine's shareable handle, drains only Ractor steps (thread
  #   workers never see them), builds each step's context inside itself, runs the handler
  #   and reports the result: the same contract as {StepRunner};
  # - a Ractor that dies is logged and replaced by a monitor thread;
  # - {#stop} raises a shared stop flag and waits for the Ractors to finish their steps; a
  #   Ractor still busy at the deadline is left to finish on its own, and the engine's stop
  #   takes its steps back (they run again: at least once);
  # - a step that runs past its timeout is failed by the engine and its Ractor abandoned (a
  #   Ractor cannot be interrupted): a watcher thread sees the engine's count of timed-out
  #   Ractor steps grow and starts a Ractor in its place, so the pool keeps its size; the
  #   abandoned Ractor, if its handler ever returns, finds its report ignored, finishes its
  #   batch and ends. Until then its step keeps its concurrency caps (README, "Concurrency
  #   limits": its late report frees them, or a bounded time).
  # Handlers in Ractors cannot use `around_step` or a custom `handler_lookup` (procs from
  # the main Ractor are not shareable); classes are found with Object.const_get.
  class RactorPool
    # How long one wait for steps lasts inside a Ractor; bounds how fast stop is noticed.
    POLL_SECONDS = 0.1

    # @return [Integer]
    attr_reader :size

    # @param engine [TaskerCore::Engine, TaskerCore::Native::Engine]
    # @param size [Integer] number of Ractors
    # @param batch_size [Integer] steps a Ractor takes per wait
    # @param logger [Logger, nil]
    def initialize(engine, size: 2, batch_size: 4, logger: nil)
      raise ValidationError, "ractors: must be an Integer from 1 to #{Engine::MAX_WORKERS}, got #{size.inspect[0, 100]}" unless size.is_a?(Integer) && size.between?(1, Engine::MAX_WORKERS)

      raise ValidationError, "ractor batch_size: must be a positive Integer, got #{batch_size.inspect[0, 100]}" unless batch_size.is_a?(Integer) && batch_size.positive?

      @native = engine.respond_to?(:native) ? engine.native : engine
      @size = size
      @batch_size = batch_size
      @logger = logger
      @ractors = {}
      @mutex = Mutex.new
    end

    # Starts the Ractors and their monitor.
    # @return [self]
    def start
      RactorShim.quiet_warnings
      # The Ractor queue is kept as deep as the Ractors take at once (see WorkerPool#start).
      @queue_depth = @native.size_pool("ractor", @size, @batch_size, WorkerPool::SIZE_TIMEOUT)
      @flag = Ractor.make_shareable(Native::StopFlag.new)
      @shared_native = Ractor.make_shareable(@native)
      @mutex.synchronize { @size.times { |i| @ractors[spawn(i)] = i } }
      @waker = new_waker
      @monitor = Thread.new { monitor }
      @monitor.name = "tasker-ractor-monitor"
      @timeouts_seen = timed_out_count
      @watcher = Thread.new { watch_timeouts }
      @watcher.name = "tasker-ractor-timeouts"
      self
    end

    # How many steps the engine keeps queued for the Ractors (nil before {#start}).
    # @return [Integer, nil]
    attr_reader :queue_depth

    # Ractors running now.
    # @return [Integer]
    def alive = @mutex.synchronize { @ractors.size }

    # Stops taking steps and waits up to `timeout` seconds for the Ractors to finish theirs.
    # @param timeout [Numeric]
    # @return [Boolean] true when every Ractor ended in time
    def stop(timeout: 30)
      return true unless @flag

      @flag.raise!
      @watcher&.join(1)
      wake_monitor
      @monitor.join(timeout) ? true : false
    end

    private

    def spawn(index)
      Ractor.new(@shared_native, @flag, @batch_size, POLL_SECONDS, name: "tasker-ractor-#{index}") do |native, flag, batch, poll|
        TaskerCore::RactorPool.drain(native, flag, batch, poll)
      end
    end

    # A Ractor that only waits to be told to end: the monitor waits on it too, so the
    # watcher can wake the monitor when it adds Ractors.
    def new_waker
      Ractor.new { Ractor.receive }
    end

    def wake_monitor
      @mutex.synchronize { @waker&.send(:wake) }
    rescue Ractor::ClosedError
      nil # woken already, and not yet replaced: the monitor looks again either way
    end

    # The engine's count of Ractor steps it failed for running past their timeout.
    def timed_out_count
      @native.stats[:ractor_steps_timed_out].to_i
    rescue TaskerCore::Error
      0
    end

    # Starts a Ractor in place of each one whose step timed out (it is abandoned: see the
    # class documentation), so the pool keeps its size. Polls while the pool runs.
    def watch_timeouts
      until @flag.raised?
        sleep POLL_SECONDS
        now = timed_out_count
        next unless now > @timeouts_seen

        added = now - @timeouts_seen
        @timeouts_seen = now
        @mutex.synchronize do
          added.times { @ractors[spawn(@ractors.size)] = @ractors.size }
        end
        wake_monitor
      end
    end

    # Ends when every Ractor has ended; replaces one that died unless the pool is stopping.
    def monitor
      loop do
        ractors, waker = @mutex.synchronize { [@ractors.keys, @waker] }
        break if ractors.empty?

        ractor, _value, error = RactorShim.wait_any(ractors + [waker])
        if ractor.equal?(waker)
          @mutex.synchronize { @waker = new_waker }
          next
        end
        @mutex.synchronize do
          index = @ractors.delete(ractor)
          next unless error && !@flag.raised?

          message = "tasker-core: Ractor #{index} died: #{error.class}: #{error.message}; starting another"
          @logger ? @logger.error(message) : warn(message)
          @ractors[spawn(index)] = index
        end
      end
      # The waker ends here unless a wake-up (stop's) already ended it.
      waker = @mutex.synchronize { @waker.tap { @waker = nil } }
      begin
        waker&.send(:done)
      rescue Ractor::ClosedError
        nil
      end
    end

    class << self
      # The loop each Ractor runs (inside the Ractor): take Ractor steps and run them with a
      # StepRunner of its own until the flag is raised or the engine is gone.
      # @return [Integer] steps run
      def drain(native, flag, batch, poll)
        runner = StepRunner.new(native, HandlerResolver.new(cache: true))
        ran = 0
        until flag.raised?
          begin
            steps = native.take_ractor_steps(batch, poll)
          rescue OrchestrationError
            break # the engine stopped (or this process is a fork)
          end
          taken_at = Process.clock_gettime(Process::CLOCK_MONOTONIC)
          abandoned = false
          steps.each do |ready|
            begin
              timeout = ready.timeout
              outcome = runner.run(ready, deadline: timeout && (taken_at + timeout))
              # Its report came after the engine timed the step out: the pool has started
              # a Ractor in this one's place; this one ends after its batch.
              abandoned ||= outcome == :late
            rescue TaskerCore::Error
              nil # the engine refused the report: it stopped and took the step back
            rescue Exception => e # rubocop:disable Lint/RescueException
              # Not a StandardError (StepRunner reports those): report this step so it is
              # retried, then let the Ractor die; the pool starts another.
              runner.hand_back(steps.drop_while { |s| !s.equal?(ready) }, e.class.name || "Exception",
                               "the Ractor running the step died: #{e.message}")
              raise
            end
            ran += 1
          end
          break if abandoned
        end
        ran
      end
    end
  end
end
