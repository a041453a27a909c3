# frozen_string_literal: true

module TaskerCore
  # A pool of Ruby threads that drain ready steps from the engine and run their handlers.
  #
  # Duties, Sidekiq-style:
  # - each thread waits for steps with the GVL released, runs a batch, reports each result;
  # - a thread that dies from an unexpected error is logged and replaced;
  # - {#quiet} stops taking new steps; {#stop} waits for running steps up to a deadline;
  #   {#kill} ends the threads at once (the engine then takes their steps back);
  # - a step with a timeout is interrupted when it overruns (Thread#raise by the pool's one
  #   {StepWatchdog} of an exception a handler's `rescue => e` does not catch, which the
  #   step fails with as {TimeoutError}), so the thread is freed; the engine has failed the
  #   attempt by then on its own.
  # Steps run at least once: a step taken but not reported is run again.
  class WorkerPool
    # How long one wait for steps lasts; bounds how fast quiet/stop are noticed.
    POLL_SECONDS = 0.1
    # Seconds to wait for the engine to size the pool's queue.
    SIZE_TIMEOUT = 10

    # @return [Integer]
    attr_reader :size

    # @return [Integer] steps taken per wait
    attr_reader :batch_size

    # How many steps the engine keeps queued for this pool once started (two batches per
    # worker; nil before {#start}): a high-priority step waits behind at most these, plus
    # what the workers hold, not behind everything submitted before it.
    # @return [Integer, nil]
    attr_reader :queue_depth

    # A one-line summary; the default would print every thread, the watchdog and the logger.
    # @return [String]
    def inspect
      "#<#{self.class.name} #{@size} threads, batch #{@batch_size}>"
    end

    # @param native [TaskerCore::Native::Engine]
    # @param runner [TaskerCore::StepRunner]
    # @param size [Integer] number of threads
    # @param batch_size [Integer] steps taken per wait
    # @param logger [Logger, nil]
    def initialize(native, runner, size:, batch_size: 16, logger: nil)
      raise ValidationError, "workers: must be an Integer from 1 to #{Engine::MAX_WORKERS}, got #{size.inspect[0, 100]}" unless size.is_a?(Integer) && size.between?(1, Engine::MAX_WORKERS)
      raise ValidationError, "batch_size: must be a positive Integer, got #{batch_size.inspect}" unless batch_size.is_a?(Integer) && batch_size.positive?

      @native = native
      @runner = runner
      @size = size
      @batch_size = batch_size
      @logger = logger
      @quiet = false
      @threads = []
      @mutex = Mutex.new
      @watchdog = StepWatchdog.new
    end

    # Starts the threads.
    # @return [self]
    def start
      # The queue is sized before the threads take from it (the engine's default depth is
      # for takers it was not told about).
      @queue_depth = @native.size_pool("thread", @size, @batch_size, SIZE_TIMEOUT)
      @mutex.synchronize { @threads = Array.new(@size) { |i| spawn(i) } }
      self
    end

    # Stops taking new steps; running steps finish.
    # @return [void]
    def quiet
      @quiet = true
    end

    # Whether {#quiet} was called.
    # @return [Boolean]
    def quiet? = @quiet

    # Quiets the pool and waits up to `timeout` seconds for running steps; threads still
    # running then are killed (their steps are taken back by the engine's stop).
    # @param timeout [Numeric]
    # @return [Boolean] true when every thread finished in time
    def stop(timeout: 30)
      quiet
      deadline = monotonic + timeout
      clean = threads.all? { |t| t.join([deadline - monotonic, 0].max) }
      @last_stop_stragglers = clean ? [] : stragglers
      kill unless clean
      @watchdog.stop # (kill stopped it already)
      clean
    end

    # The threads the last {#stop} gave up on, with the step each was running
    # ("tasker-worker-2: step 97 charge_card (Shop::ChargeCard)"), for the engine's log.
    # @return [Array<String>]
    def last_stop_stragglers
      @last_stop_stragglers || []
    end

    # Kills every thread at once.
    # @return [void]
    def kill
      quiet
      # The watchdog first: once it has stopped no timeout is on its way into a thread, where
      # it could land in the ensure that a kill runs and take the kill's place.
      @watchdog.stop
      threads.each(&:kill).each { |t| t.join(1) }
    end

    # Threads alive now.
    # @return [Array<Thread>]
    def threads
      @mutex.synchronize { @threads.dup }
    end

    private

    def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)

    def stragglers
      threads.select(&:alive?).map do |t|
        step = t[:tasker_step]
        "#{t.name}: #{step ? "step #{step.step_id} #{step.name} (#{step.handler_class})" : 'between steps'}"
      end
    end

    def spawn(index)
      Thread.new do
        Thread.current.name = "tasker-worker-#{index}"
        Thread.current.report_on_exception = false
        work
      rescue Exception => e # rubocop:disable Lint/RescueException
        # Unexpected, or a handler's non-StandardError (LoadError, NotImplementedError,
        # NoMemoryError: StepRunner has failed its step with it). Log it once and
        # replace this thread so the pool keeps its size. Rescued here, the exception ends
        # with the thread: #stop's join must not re-raise it to whoever stops the engine.
        message = "tasker-core: worker #{index} died: #{e.class}: #{e.message}#{' (replaced)' unless @quiet}"
        @logger ? @logger.error(message) : warn(message)
        @mutex.synchronize { @threads[index] = spawn(index) } unless @quiet
      end
    end

    def work
      # This thread's place in the watchdog, made once: arming it per step is two
      # assignments, and a step's TimeoutError is raised only inside its handler's
      # watch (see StepWatchdog).
      slot = @watchdog.slot
      until @quiet
        run_batch(@native.take_steps(@batch_size, POLL_SECONDS), slot)
      end
    end

    # Runs a batch; when the thread is killed or raised mid-batch, the steps not yet run are
    # reported as failed attempts so the engine retries them instead of waiting for them.
    # (A handler's fatal exception has already failed its own step, see StepRunner; the
    # second report of that step is refused and ignored.)
    def run_batch(batch, slot)
      done = 0
      batch.each do |ready|
        begin
          Thread.current[:tasker_step] = ready
          # nil: no timeout. Otherwise its deadline, counted from when the batch was taken as
          # the engine counts it, or false once that has passed: not run then (the engine has
          # failed that attempt, or is about to). One call into Rust, which reads the clock:
          # this is the timed path's cost (issue 17's 5 % bar).
          deadline = ready.live_deadline
          if deadline.nil?
            @runner.run_untimed(ready)
          elsif deadline
            @runner.run_timed(ready, deadline, slot)
          end
        rescue TimeoutError, StepWatchdog::Overrun
          nil # not raised outside a handler's watch (see StepWatchdog); kept as a guard
        rescue TaskerCore::Error => e
          # The engine refused the report (it stopped and took the step back).
          @logger&.warn("tasker-core: step #{ready.step_id}: #{e.message}")
        end
        done += 1
      end
    ensure
      Thread.current[:tasker_step] = nil
      @runner.hand_back(batch[done..] || [], "TaskerCore::WorkerInterrupted",
                        "the worker thread was interrupted before running the step", retry_after: 0)
    end
  end
end
