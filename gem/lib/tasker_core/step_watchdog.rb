# frozen_string_literal: true

module TaskerCore
  # Interrupts worker threads whose step ran past its timeout: one thread per worker pool
  # (started with the first timed step, so a pool whose steps have no timeout never starts
  # it) raises {Overrun} (Thread#raise) in a worker thread whose armed step is past its
  # deadline, freeing the worker for other steps; the step's {Slot#run} turns it into a
  # {TimeoutError}. It must not decide the step's fate: the engine fails the attempt on its
  # own timer whether or not the handler stops.
  #
  # Arming sits on every timed step's path, so it takes no lock and allocates nothing: each
  # worker thread owns one preallocated {Slot} and writes its step and deadline there with
  # plain assignments (each one atomic under the GVL). The watchdog thread publishes when it
  # will look next ({#next_scan}) and sleeps until then: the soonest armed deadline, or,
  # with nothing armed, one {LINGER} and then untimed. An arm wakes it only when its
  # deadline comes before that, so a pool whose steps share a timeout wakes it about once
  # per timeout, not once per step or batch (each wake is a lock, a signal and a thread
  # switch: it was most of the timed path's cost). The watchdog publishes before it looks
  # again, so an arm is either seen by that look or compares against the new time.
  #
  # An interrupt lands only inside {Slot#run}, i.e. in the handler or as it returns,
  # never in the report that follows or in the next step, without a per-step
  # Thread.handle_interrupt (each one allocates a mask Hash). The watchdog announces which
  # step it is about to interrupt (`firing`) before checking the slot still holds that step
  # and raising; the worker clears the slot before checking that announcement, and when it
  # names the step just run, waits until the watchdog is done (`fired`), passing the GVL, so
  # the exception arrives there (a pending exception is raised at the thread's next
  # interrupt check: Thread.pass and every method return make one). With the GVL's ordering
  # one of the two always sees the other's write (a Dekker-style handshake): either the
  # watchdog sees the slot cleared and raises nothing, or the worker sees the announcement
  # and waits for the exception. Once {Slot#run} has returned, nothing is raised into that
  # thread for that step.
  class StepWatchdog
    # Seconds the watchdog keeps looking after it found nothing armed before it sleeps
    # untimed: a busy pool between batches does not pay a wake per batch.
    LINGER = 1.0

    # What the watchdog raises into a worker thread: an Exception but not a StandardError,
    # so a handler's `rescue => e` (or `rescue StandardError`) does not swallow it and keep
    # the thread, as Ruby's own Timeout does; `ensure` blocks still run. {Slot#run}
    # turns it into the {TimeoutError} the step fails with. Internal: nothing outside
    # this file raises or rescues it (but the worker pool's last-resort guard).
    class Overrun < Exception # rubocop:disable Lint/InheritException
    end

    # While a caller masks it (Thread.handle_interrupt), an {Overrun} already pending for the
    # step just run is let through at the end of its watch.
    DELIVER = Ractor.make_shareable({ Overrun => :immediate })

    # One worker thread's armed step. Only its worker writes `armed` and `deadline`; only
    # the watchdog writes `firing` (the step it is about to interrupt), `fired` (the step
    # it has finished interrupting, or decided not to) and `next_scan`.
    class Slot
      # @return [TaskerCore::Native::ReadyStep, nil] the step its thread runs under a deadline
      attr_reader :armed
      # @return [Float, nil] the armed step's deadline (a monotonic clock reading)
      attr_reader :deadline
      # @return [Thread] the worker thread this slot watches
      attr_reader :thread
      # @return [Object, nil] see the class comment (the watchdog's side of the handshake)
      attr_accessor :firing, :fired
      # @return [Float] the watchdog's {StepWatchdog#next_scan}, copied into each slot so an
      #   arm reads its own slot rather than calling the watchdog
      attr_accessor :next_scan

      # @param watchdog [StepWatchdog]
      # @param thread [Thread]
      def initialize(watchdog, thread)
        @watchdog = watchdog
        @thread = thread
        @armed = nil
        @deadline = nil
        @firing = nil
        @fired = nil
        @next_scan = Float::INFINITY # the first arm wakes the watchdog
      end

      # Runs `handler.runner_for(context).call(context)` (a {HandlerResolver}'s handler,
      # built and run) on this slot's thread, which is interrupted if it still runs at
      # `deadline` (a monotonic clock reading): this call then raises a {TimeoutError} naming
      # `step` (from the handler, or as it returns; never after it), whatever the handler
      # rescues short of Exception. Call from the slot's thread.
      #
      # Not a block: on the worker's path for every timed step, and a block's frame plus the
      # caller's own method around the handler were ~43 % of what a timed no-op step cost over
      # an untimed one (issue 17's 5 % bar). {#watch} is the block form.
      # @param deadline [Float]
      # @param step [TaskerCore::Native::ReadyStep] the step it runs (one object per attempt)
      # @param handler [#runner_for, nil] gives the callable that runs `context`; nil: the
      #   block given runs instead ({#watch})
      # @param context [Object] what the callable is given
      # @return [Object] the callable's value
      # @raise [TimeoutError] when the watchdog interrupted it
      def run(deadline, step, handler, context)
        begin
          # The deadline first: a watchdog that sees the step sees its deadline.
          @deadline = deadline
          @armed = step
          @watchdog.wake if deadline < @next_scan
          handler ? handler.runner_for(context).call(context) : yield
        ensure
          @armed = nil
          settle(step) if @firing
        end
      rescue Overrun => e
        # Out here, so that one raised in the ensure (settle's) is turned too. The handler's
        # backtrace is kept: it tells where the handler was stuck.
        raise TimeoutError, StepWatchdog.message(step), e.backtrace
      end

      # {#run} for a block: runs it under the watch, with the same guarantees.
      # @param deadline [Float]
      # @param step [TaskerCore::Native::ReadyStep]
      # @return [Object] the block's value
      # @raise [TimeoutError] when the watchdog interrupted it
      def watch(deadline, step)
        # The block passed on, not captured: no Proc or wrapper object per step (under
        # GC.stress, where every allocation is a collection, one made the spec 3x slower).
        run(deadline, step, nil, nil) { yield }
      end

      private

      # The watchdog has announced an interrupt in this slot (`firing` is nil until its first
      # one, and then names the latest): when of `step`, just run and disarmed, wait until
      # the watchdog is done, so its exception is raised here, before the report. (Read
      # again here: after the disarm it can only have moved on to `step`, never away from it.)
      def settle(step)
        return unless @firing.equal?(step)

        Thread.pass until @fired.equal?(step)
        # Raised by now, unless something masked it (a caller's Thread.handle_interrupt):
        # then it is let through here, as this step's (only it: other pending interrupts stay
        # masked). Asked without a class: Ruby 3.1.2's Thread.pending_interrupt?(klass)
        # crashes the VM (a segfault in rb_class_inherited_p) when an exception is pending.
        Thread.handle_interrupt(DELIVER) { Thread.pass } if Thread.pending_interrupt?
      end
    end

    # When the watchdog looks next (a monotonic clock reading; infinite while it sleeps
    # until woken): an arm whose deadline is sooner wakes it. Written, with a copy in every
    # slot (which {Slot#run} reads without a lock), under the watchdog's lock.
    # @return [Float]
    attr_reader :next_scan

    # The message of the {TimeoutError} a watched step is interrupted with.
    # @param step [TaskerCore::Native::ReadyStep]
    # @return [String]
    def self.message(step)
      "step #{step.step_id} (#{step.name}) of task #{step.task_id} ran longer than its timeout of " \
        "#{step.timeout} s (attempt #{step.attempt})"
    end

    # @param name [String] the watchdog thread's name
    def initialize(name: "tasker-step-watchdog")
      @name = name
      @mutex = Mutex.new # the slot list, the idle flag's changes, the watchdog's sleep
      @wake = ConditionVariable.new
      @slots = [].freeze
      @thread = nil
      @stopped = false
      @next_scan = Float::INFINITY
    end

    # Whether the watchdog sleeps until an arm wakes it.
    # @return [Boolean]
    def idle = @next_scan == Float::INFINITY

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

    # Wakes the watchdog (starting its thread with the first timed step) to look at a slot
    # armed with a deadline before its {#next_scan}.
    # @return [void]
    def wake
      @mutex.synchronize do
        return if @stopped

        # A thread that cannot start raises here and leaves {#next_scan} as it was: the
        # next arm tries again.
        @thread ||= start
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
      thread.raise(Overrun, StepWatchdog.message(step)) if thread.alive?
    end

    # Tells every slot when the watchdog looks next (under the lock).
    def publish(plan)
      @next_scan = plan
      @slots.each { |slot| slot.next_scan = plan }
    end

    def watch
      linger_until = nil
      @mutex.synchronize do
        until @stopped
          soonest = scan
          now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
          if soonest
            plan = soonest
            linger_until = nil
          else
            # Nothing armed: look again after LINGER, and if still nothing, sleep until an
            # arm wakes us (and linger again after that wake).
            linger_until ||= now + LINGER
            plan = now < linger_until ? linger_until : Float::INFINITY
            linger_until = nil if plan.infinite?
          end
          # Published before the last look: an arm after it compares against `plan` (and
          # wakes us when sooner), one before it is seen by this look.
          publish(plan)
          again = scan
          publish(plan = again) if again && again < plan
          @wake.wait(@mutex, plan.infinite? ? nil : [plan - now, 0.001].max)
        end
      end
    ensure
      # A watchdog that died (an error in a scan) must not leave the slots believing it awake:
      # idle again, the next arm starts a new thread.
      unless @stopped
        warn("tasker-core: the step watchdog stopped (#{$!.class}: #{$!.message}); the next timed step restarts it") if $!
        @mutex.synchronize do
          publish(Float::INFINITY)
          @thread = nil
        end
      end
    end
  end
end
