# frozen_string_literal: true

module TaskerCore
  # Interrupts worker threads whose step ran past its timeout: one thread per worker pool
  # (started with the first timed step, so a pool whose steps have no timeout never starts
  # it) raises {TimeoutError} (Thread#raise) in a worker thread whose armed step is past
  # its deadline, freeing the worker for other steps. It must not decide the step's fate:
  # the engine fails the attempt on its own timer whether or not the handler stops.
  #
  # Arming sits on every timed step's path, so it takes no lock and allocates nothing: each
  # worker thread owns one preallocated {Slot} and writes its step and deadline there with
  # plain assignments (each one atomic under the GVL). The watchdog thread scans the slots
  # on a coarse tick ({TICK}; timeouts are fractions of a second at least) while any is
  # armed, and sleeps untimed, until an arm wakes it, while none is.
  #
  # An interrupt lands only inside {Slot#watch}, i.e. in the handler or as it returns,
  # never in the report that follows or in the next step, without a per-step
  # Thread.handle_interrupt (each one allocates a mask Hash: it was a third of the timed
  # path's cost). The watchdog announces which step it is about to interrupt (`firing`)
  # before checking the slot still holds that step and raising; the worker clears the slot
  # before checking that announcement, and when it names the step just run, waits until
  # the watchdog is done (`fired`), passing the GVL, so the exception arrives there (a
  # pending exception is raised at the thread's next interrupt check: Thread.pass and
  # every method return make one). With the GVL's ordering one of the two always sees the
  # other's write (a Dekker-style handshake): either the watchdog sees the slot cleared
  # and raises nothing, or the worker sees the announcement and waits for the exception.
  # Once {Slot#watch} has returned, nothing is raised into that thread for that step.
  class StepWatchdog
    # Seconds between scans while a step is armed: how late, at most, an overrunning
    # handler is interrupted (the engine has failed its attempt on time regardless).
    TICK = 0.05

    # One worker thread's armed step. Only its worker writes `armed` and `deadline`; only
    # the watchdog writes `firing` (the step it is about to interrupt) and `fired` (the
    # step it has finished interrupting, or decided not to).
    class Slot
      # @return [TaskerCore::Native::ReadyStep, nil] the step its thread runs under a deadline
      attr_reader :armed
      # @return [Float, nil] the armed step's deadline (a monotonic clock reading)
      attr_reader :deadline
      # @return [Thread] the worker thread this slot watches
      attr_reader :thread
      # @return [Object, nil] see the class comment (the watchdog's side of the handshake)
      attr_accessor :firing, :fired

      # @param watchdog [StepWatchdog]
      # @param thread [Thread]
      def initialize(watchdog, thread)
        @watchdog = watchdog
        @thread = thread
        @armed = nil
        @deadline = nil
        @firing = nil
        @fired = nil
      end

      # Runs the block (a handler) on this slot's thread, which is raised a {TimeoutError}
      # naming `step` if the block still runs at `deadline` (a monotonic clock reading).
      # The exception, when raised, comes out of this call (from the block, or as it
      # returns), and never after it. Call from the slot's thread.
      # @param deadline [Float]
      # @param step [TaskerCore::Native::ReadyStep] the step it runs (one object per attempt)
      # @return [Object] the block's value
      def watch(deadline, step)
        # The deadline first: a watchdog that sees the step sees its deadline.
        @deadline = deadline
        @armed = step
        @watchdog.wake if @watchdog.idle
        yield
      ensure
        @armed = nil
        firing = @firing
        settle(firing) if firing && firing.equal?(step)
      end

      private

      # The watchdog is interrupting (or has decided not to interrupt) `step`, just run:
      # wait until it is done, so its exception is raised here, before the report.
      def settle(step)
        Thread.pass until @fired.equal?(step)
        # Raised by now, unless something masked it (a caller's Thread.handle_interrupt):
        # then it is let through here, as this step's.
        Thread.handle_interrupt(StepRunner::TIMEOUT_DELIVERED) { Thread.pass } if Thread.pending_interrupt?(TimeoutError)
      end
    end

    # Whether the watchdog sleeps until an arm wakes it (read by {Slot#arm} without a lock;
    # written under the watchdog's lock).
    # @return [Boolean]
    attr_reader :idle

    # @param name [String] the watchdog thread's name
    def initialize(name: "tasker-step-watchdog")
      @name = name
      @mutex = Mutex.new # the slot list, the idle flag's changes, the watchdog's sleep
      @wake = ConditionVariable.new
      @slots = [].freeze
      @thread = nil
      @stopped = false
      @idle = true
    end

    # The current thread's slot (a new one each call: call once per worker thread). Slots
    # of threads that ended are dropped.
    # @return [Slot]
    def slot
      slot = Slot.new(self, Thread.current)
      # A new frozen list each time: the watchdog iterates whichever list it read, never
      # one being changed.
      @mutex.synchronize { @slots = (@slots.select { |s| s.thread.alive? } << slot).freeze }
      slot
    end

    # Wakes the watchdog (starting its thread with the first timed step) after a slot was
    # armed while it slept untimed.
    # @return [void]
    def wake
      @mutex.synchronize do
        return if @stopped || !@idle

        # Started before the flag changes: a thread that cannot start leaves the watchdog
        # idle, and the next arm tries again.
        @thread ||= start
        @idle = false
        @wake.signal
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

    # Interrupts every thread whose armed step is past its deadline; returns the earliest
    # deadline still armed (nil when no slot is armed).
    def scan
      now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      soonest = nil
      @slots.each do |slot|
        step = slot.armed
        # A step interrupted once is not interrupted again (its handler may rescue and go on).
        next if step.nil? || slot.fired.equal?(step)

        deadline = slot.deadline
        if deadline > now
          soonest = deadline if soonest.nil? || deadline < soonest
        else
          fire(slot, step)
        end
      end
      soonest
    end

    # The watchdog's half of the handshake (see the class comment): announce, re-check,
    # interrupt, then say it is done.
    def fire(slot, step)
      slot.firing = step
      interrupt(slot.thread, step) if slot.armed.equal?(step)
    ensure
      slot.fired = step
    end

    # Raises into `thread` (the watchdog may lose the GVL anywhere before this: the
    # handshake is what makes that safe, and a spec widens the gap here to show it).
    def interrupt(thread, step)
      thread.raise(TimeoutError, message(step)) if thread.alive?
    end

    def watch
      @mutex.synchronize do
        until @stopped
          soonest = scan
          if soonest.nil?
            # Published before the last look: an arm after it wakes us, one before it is seen.
            @idle = true
            soonest = scan
            @idle = false if soonest
          end
          wait = soonest && (soonest - Process.clock_gettime(Process::CLOCK_MONOTONIC)).clamp(0.001, TICK)
          @wake.wait(@mutex, wait)
        end
      end
    ensure
      # A watchdog that died (an error in a scan) must not leave the slots believing it awake:
      # idle again, the next arm starts a new thread.
      unless @stopped
        warn("tasker-core: the step watchdog stopped (#{$!.class}: #{$!.message}); the next timed step restarts it") if $!
        @mutex.synchronize do
          @idle = true
          @thread = nil
        end
      end
    end
  end
end
