# frozen_string_literal: true

module TaskerCore
  # Base class of every error tasker-core raises. A Rust panic caught at the boundary is
  # raised as this class itself.
  class Error < StandardError; end

  # The engine cannot do what was asked (stopped, or an internal failure).
  class OrchestrationError < Error; end

  # The store failed.
  class DatabaseError < Error; end

  # The store answered, but a row it holds cannot be read (JSON another tool wrote, a state
  # it does not know, a value nested deeper than the reader takes): reading it again will
  # not help. The message names the task; fix or delete its rows in SQL.
  class UnreadableRowError < DatabaseError; end

  # A state change the state machine refuses; the message names the current state and the
  # allowed ones.
  class StateTransitionError < Error; end

  # Someone else changed the task or step after you read it; nothing was written. Read it
  # again and retry.
  class ConcurrentModificationError < StateTransitionError; end

  # Bad input (a template, a task context, an argument); nothing was changed.
  class ValidationError < Error; end

  # A setting (e.g. `config.tasker_core.workers` in a Rails app) has a value tasker-core
  # cannot use; the message names the setting.
  class ConfigurationError < Error; end

  # A wait ran out of time; also the error a step's attempt fails with when it runs past its
  # timeout (`timeout_seconds`), raised into the handler's thread by its worker pool
  # (Thread#raise) and recorded with the attempt. Retryable, like any StandardError.
  class TimeoutError < Error; end

  # A step's handler_class names no loadable Ruby class.
  class HandlerNotFoundError < Error; end

  # What a retryable failure carries: `retry_after` (seconds) asks the engine to wait that
  # long, e.g. an HTTP Retry-After, capped at 300 s; `context` (JSON-compatible) is kept
  # with the failed attempt and in the `step.failed` event. Shared by {RetryableError} and
  # the Tasker compatibility layer's `Tasker::RetryableError`.
  module RetryableFields
    # @return [Numeric, nil] seconds the handler asks the engine to wait before retrying
    attr_reader :retry_after
    # @return [Hash] what the handler wants recorded with the failure
    attr_reader :context

    # @param message [String]
    # @param retry_after [Numeric, nil] seconds to wait before the retry
    # @param context [Hash] recorded with the failed attempt (`error_context`)
    def initialize(message = nil, retry_after: nil, context: {})
      super(message)
      @retry_after = retry_after
      @context = context || {}
    end
  end

  # What a permanent failure carries: `error_code` and `context`, kept with the failed
  # attempt (its transition's metadata, `Step#execution_attempts`) and in the `step.failed`
  # event. Shared by {PermanentError} and `Tasker::PermanentError`.
  module PermanentFields
    # @return [String, Symbol, nil] a code for the failure, e.g. "PAYMENT_DECLINED"
    attr_reader :error_code
    # @return [Hash] what the handler wants recorded with the failure
    attr_reader :context

    # @param message [String]
    # @param error_code [String, Symbol, nil]
    # @param context [Hash] recorded with the failed attempt (`error_context`)
    def initialize(message = nil, error_code: nil, context: {})
      super(message)
      @error_code = error_code
      @context = context || {}
    end
  end

  # Raised by a handler for a failure worth retrying (see {RetryableFields}).
  class RetryableError < Error
    include RetryableFields
  end

  # Raised by a handler for a failure that retrying cannot fix: the step is not retried
  # (see {PermanentFields}).
  class PermanentError < Error
    include PermanentFields
  end
end
