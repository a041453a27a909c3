# frozen_string_literal: true

module TaskerCore
  # Runs one ready step and reports how it ended. This is the whole contract between a
  # worker and the engine:
  # - results returned → complete_step;
  # - PermanentError (or a missing handler class) → fail_step, not retried;
  # - RetryableError → fail_step, retried, honouring its retry_after;
  #   (the Tasker engine's Tasker::PermanentError / Tasker::RetryableError alike, their
  #   error_code, context and retry_after kept with the attempt: see {Failure});
  # - Ractor::IsolationError (a handler in a Ractor touched what only the main Ractor may)
  #   → fail_step, not retried: it would fail the same way again;
  # - any other StandardError → fail_step, retried under the normal backoff;
  # - a {FATAL} exception (LoadError, NotImplementedError, NoMemoryError, …) → fail_step,
  #   retried, and re-raised so the pool replaces the thread or Ractor it ran on;
  # - a step with a timeout ({Native::ReadyStep#timeout}) is reported for its attempt (by the
  #   id of that hand-out, not the attempt number, which a manual reset starts over): when
  #   the engine has already failed that attempt with a TimeoutError, the late report is
  #   ignored (the engine no longer waits for it, and a retry may be running).
  class StepRunner
    # A coordinator's on_step_execute in a {HandlerResolver}'s shape: it gets the step as a
    # {ViableStep}.
    class ExecutorRunner
      # @param executor [#call]
      def initialize(executor)
        @executor = executor
      end

      # @return [self]
      def runner_for(_context) = self

      # @param context [TaskerCore::StepContext]
      def call(context) = @executor.call(ViableStep.new(context))
    end

    # Exceptions a handler may raise that are not StandardErrors but are still the step's
    # failure (a missing require, an unimplemented method, memory or stack exhausted).
    # Interrupts, signals and exit are not: they stop the thread, and its pool hands the
    # step back.
    FATAL = [ScriptError, NoMemoryError, SystemStackError, SecurityError].freeze

    # While a timed step's handler runs outside a worker pool (a Ractor, a direct {#run}),
    # a {TimeoutError} is delivered at once even where its caller masks it.
    TIMEOUT_DELIVERED = Ractor.make_shareable({ TimeoutError => :immediate })

    # @param native [TaskerCore::Native::Engine]
    # @param resolver [TaskerCore::HandlerResolver]
    # @param executor [#call, nil] replaces handler dispatch (a coordinator's on_step_execute)
    # @param around [#call, nil] wraps each run (e.g. Rails' executor); receives a block
    def initialize(native, resolver, executor: nil, around: nil)
      @native = native
      @around = around
      # What builds and calls each step's handler: `runner_for(context).call(context)`, the
      # shape the pool's watchdog slot runs a timed step's handler in (StepWatchdog::Slot#run).
      @handlers = executor ? ExecutorRunner.new(executor) : resolver
    end

    # Runs `ready` and reports it. Never raises for a handler failure.
    # @param ready [TaskerCore::Native::ReadyStep]
    # @param deadline [Float, nil] monotonic time at which the attempt times out (see
    #   {StepContext#deadline}); the handler runs with a pending {TimeoutError} delivered at
    #   once (for a caller that masks it elsewhere; a worker pool uses {#run_timed})
    # @return [Boolean, Symbol] whether the step succeeded; `:late` when the engine had
    #   timed the attempt out already and ignored the report
    def run(ready, deadline: nil)
      perform(ready, deadline, deadline || ready.timeout ? true : false, nil)
    end

    # Runs a step its caller has given a deadline (a worker pool, which read
    # {Native::ReadyStep#timeout} already), as {#run} does with `deadline:`, its handler
    # under the pool's watchdog (which interrupts it at the deadline) instead of
    # Thread.handle_interrupt.
    # @param ready [TaskerCore::Native::ReadyStep]
    # @param deadline [Float] monotonic time at which the attempt times out
    # @param slot [StepWatchdog::Slot] the calling thread's
    # @return [Boolean, Symbol] as {#run}
    def run_timed(ready, deadline, slot)
      perform(ready, deadline, true, slot)
    end

    # Runs a step its caller knows has no timeout (a worker pool read
    # {Native::ReadyStep#timeout} already), as {#run} does, with its plain reports.
    # @param ready [TaskerCore::Native::ReadyStep]
    # @return [Boolean]
    def run_untimed(ready)
      perform(ready, nil, false, nil)
    end

    # Reports steps a worker took but will not run (its thread was killed, its Ractor died)
    # as failed attempts to retry, so the engine does not wait for them. A report the engine
    # refuses (it stopped and took the step back) is ignored.
    # @param steps [Array<TaskerCore::Native::ReadyStep>]
    # @param error_class [String]
    # @param message [String]
    # @param retry_after [Numeric, nil] seconds before the retry (nil: the normal backoff)
    # @return [void]
    def hand_back(steps, error_class, message, retry_after: nil)
      steps.each do |ready|
        @native.fail_ready(ready, error_class, message, true, retry_after, nil)
      rescue TaskerCore::Error
        nil
      end
    end

    private

    # Only a step with a timeout (`timed`) can have a late report (its attempt timed out and
    # a retry runs): its failure is reported by `fail_ready`, which reads its attempt's id
    # in Rust. The others keep the plain reports, which cost less, on a path whose no-op run
    # is a few microseconds of Ruby. A success is reported by `complete_ready`, which reads
    # the step's id and, when it has a timeout, its attempt's id in Rust: two calls from
    # Ruby fewer per step.
    def perform(ready, deadline, timed, slot)
      if @around
        ok = false
        @around.call { ok = execute(ready, deadline, timed, slot) }
        ok
      else
        execute(ready, deadline, timed, slot)
      end
    end

    # `slot`: the pool's watchdog interrupts the handler at its deadline (see StepWatchdog);
    # without one (a Ractor, a direct {#run}), a deadline only unmasks TimeoutError for it.
    def execute(ready, deadline, timed, slot)
      context = deadline ? StepContext.new(ready, @native, deadline) : StepContext.new(ready, @native)
      begin
        results = if slot
                    slot.run(deadline, ready, @handlers, context)
                  elsif deadline
                    Thread.handle_interrupt(TIMEOUT_DELIVERED) { call_handler(context) }
                  else
                    call_handler(context)
                  end
      rescue Ractor::IsolationError => e
        return report_failure(ready, timed, e, retryable: false,
                                        note: "#{e.class}: handler #{ready.handler_class} is not Ractor-safe: run it with execution: thread")
      rescue StandardError => e
        failure = Failure.classify(e)
        return report_failure(ready, timed, e, retryable: failure[:retryable], retry_after: failure[:retry_after],
                                        details: failure[:details])
      rescue *FATAL => e
        # The step fails with it like with any error (retried under the normal rules);
        # then it goes on, so the thread or Ractor it broke is replaced by its pool.
        report_failure(ready, timed, e, retryable: true)
        raise
      end
      begin
        return :late unless @native.complete_ready(ready, results)
      rescue ValidationError => e
        # Results that cannot be stored (not JSON-compatible): a retry will not change that.
        return report_failure(ready, timed, e, retryable: false)
      end
      true
    end

    def call_handler(context)
      @handlers.runner_for(context).call(context)
    end

    # `timed` false: a step without a timeout, reported plainly (see #perform).
    def report_failure(ready, timed, error, retryable:, retry_after: nil, note: nil, details: nil)
      # A message may hold any bytes (binary data, another encoding): it is recorded as
      # UTF-8 so the report itself cannot fail and leave the step handed out.
      message = Inputs.text(error.message)
      message = "#{message} (#{Inputs.text(note)})" if note
      message = "#{message} (#{Inputs.text(error.backtrace.first)})" if error.backtrace&.first
      error_class = Inputs.text(error.class.name || "AnonymousError")
      unless timed
        @native.fail_step(ready.step_id, error_class, message, retryable, retry_after, details)
        return false
      end

      @native.fail_ready(ready, error_class, message, retryable, retry_after, details) ? false : :late
    end
  end
end
