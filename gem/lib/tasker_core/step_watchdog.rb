# frozen_string_literal: true

module TaskerCore
  # Interrupts worker threads whose step ran past its timeout: one thread per worker pool
  # (started with the first timed step, so a pool whose steps have no timeout never starts
  # it) sleeps until the earliest armed deadline and raises {TimeoutError} in the thread
  # that armed it (Thread#raise), freeing the worker for other steps.
  #
  # The engine enforces the timeout itself (the attempt fails whether or not the handler
  # stops); this only frees the thread. A handler stuck in C code receives the exception
  # when it returns to Ruby. Workers keep {TimeoutError} masked (Thread.handle_interrupt)
  # outside the handler, so an interrupt that arrives as a handler returns is discarded
  # ({#disarm}) rather than raised into the next step.
  class StepWatchdog
    # @param name [String] the watchdog thread's name
    def initialize(name: "tasker-step-watchdog")
      @name = name
      @mutex = Mutex.new
      @wake = ConditionVariable.new
      @armed = {}
      @thread = nil
      @stopped = false
      @sleeping_until = nil # the deadline the watchdog sleeps until (infinity: none armed)
    end

    # Watches the current thread until {#disarm}: at `deadline` (a monotonic clock
    # reading) it is raised a {TimeoutError} naming `step`.
    # @param deadline [Float]
    # @param step [TaskerCore::Native::ReadyStep] the step it runs (named only if it overruns)
    # @return [void]
    def arm(deadline, step)
      @mutex.synchronize do
        @armed[Thread.current] = [deadline, step]
        @thread ||= start
        # Woken only when it sleeps past this deadline: with one timeout for every step,
        # each new deadline is later than the one it waits for, and arming costs no wake-up.
        @wake.signal if @sleeping_until.nil? || deadline < @sleeping_until
      end
    end

    # Stops watching the current thread, and discards a {TimeoutError} raised into it that
    # is still pending (masked) because the handler returned just before its deadline.
    # @return [void]
    def disarm
      @mutex.synchronize { @armed.delete(Thread.current) }
      return unless Thread.pending_interrupt?(TimeoutError)

      begin
        Thread.handle_interrupt(StepRunner::TIMEOUT_DELIVERED) { Thread.pass }
      rescue TimeoutError
        nil
      end
    end

    # Ends the watchdog thread.
    # @return [void]
    def stop
      thread = @mutex.synchronize do
        @stopped = true
        @wake.signal
        @thread
      end
      thread&.join(1)
    end

    private

    def start
      thread = Thread.new { watch }
      thread.name = @name
      thread.report_on_exception = false
      thread
    end

    def message(step)
      "step #{step.step_id} (#{step.name}) of task #{step.task_id} ran longer than its timeout of " \
        "#{step.timeout} s (attempt #{step.attempt})"
    end

    def watch
      @mutex.synchronize do
        until @stopped
          now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
          @armed.each do |thread, (deadline, step)|
            next if deadline > now

            @armed.delete(thread)
            thread.raise(TimeoutError, message(step)) if thread.alive?
          end
          soonest = @armed.each_value.map(&:first).min
          @sleeping_until = soonest || Float::INFINITY
          @wake.wait(@mutex, soonest ? [soonest - now, 0.001].max : nil)
          @sleeping_until = nil
        end
      end
    end
  end
end
