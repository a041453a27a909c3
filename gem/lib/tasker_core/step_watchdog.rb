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
    # One worker thread's armed deadline. Its own lock makes "check the deadline, raise
    # into the thread" one step for the watchdog and "stop watching" one step for the
    # worker, so an interrupt never outlives the attempt it was meant for; with one lock
    # per thread, workers arming and disarming never wait for each other.
    Slot = Struct.new(:lock, :deadline, :step)

    # @param name [String] the watchdog thread's name
    def initialize(name: "tasker-step-watchdog")
      @name = name
      @mutex = Mutex.new # the slots table, the watchdog's sleep
      @wake = ConditionVariable.new
      @slots = {}
      @thread = nil
      @stopped = false
      # The deadline the watchdog sleeps until; nil while it looks (or before it starts).
      @sleeping_until = nil
      # Where a worker thread keeps its slot of this watchdog.
      @slot_key = :"tasker_watchdog_slot_#{object_id}"
    end

    # Watches the current thread until {#disarm}: at `deadline` (a monotonic clock
    # reading) it is raised a {TimeoutError} naming `step`.
    # @param deadline [Float]
    # @param step [TaskerCore::Native::ReadyStep] the step it runs (named only if it overruns)
    # @return [void]
    def arm(deadline, step)
      slot = Thread.current[@slot_key] || register
      slot.lock.synchronize do
        slot.step = step
        slot.deadline = deadline
      end
      # The watchdog wakes by itself at the deadline it sleeps until, and then sees this
      # one; it is woken only for an earlier deadline (with one timeout for every step,
      # each new deadline is later, and arming costs no wake-up) or while it looks.
      sleeping_until = @sleeping_until
      return unless sleeping_until.nil? || deadline < sleeping_until

      @mutex.synchronize { @wake.signal }
    end

    # Stops watching the current thread, and discards a {TimeoutError} raised into it that
    # is still pending (masked) because the handler returned just before its deadline.
    # @return [void]
    def disarm
      slot = Thread.current[@slot_key]
      slot&.lock&.synchronize { slot.deadline = nil }
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

    # The current thread's slot, made once per thread; starts the watchdog thread with the
    # first. Slots of threads that ended are dropped.
    def register
      @mutex.synchronize do
        slot = Slot.new(Mutex.new, nil, nil)
        @slots.delete_if { |thread, _| !thread.alive? }
        @slots[Thread.current] = slot
        Thread.current[@slot_key] = slot
        @thread ||= start
        slot
      end
    end

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

    # Raises into every thread whose deadline passed; returns the earliest deadline left.
    def scan
      now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      soonest = nil
      @slots.each do |thread, slot|
        slot.lock.synchronize do
          deadline = slot.deadline
          next if deadline.nil?

          if deadline <= now
            slot.deadline = nil
            thread.raise(TimeoutError, message(slot.step)) if thread.alive?
          elsif soonest.nil? || deadline < soonest
            soonest = deadline
          end
        end
      end
      soonest
    end

    def watch
      @mutex.synchronize do
        until @stopped
          @sleeping_until = nil
          soonest = scan
          @sleeping_until = soonest || Float::INFINITY
          now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
          @wake.wait(@mutex, soonest ? [soonest - now, 0.001].max : nil)
        end
      end
    end
  end
end
