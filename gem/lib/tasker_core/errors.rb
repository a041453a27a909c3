# frozen_string_literal: true

module TaskerCore
  # Base class of every error tasker-core raises. A Rust panic caught at the boundary is
  # raised as this class itself.
  class Error < StandardError; end

  # The engine cannot do what was asked (stopped, or an internal failure).
  class OrchestrationError < Error; end

  # The store failed.
  class DatabaseError < Error; end

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

  # A wait ran out of time.
  class TimeoutError < Error; end

  # A step's handler_class names no loadable Ruby class.
  class HandlerNotFoundError < Error; end

  # Raised by a handler for a failure worth retrying. `retry_after` (seconds) asks the
  # engine to wait that long, e.g. an HTTP Retry-After; it is capped at 300 s.
  class RetryableError < Error
    # @return [Numeric, nil] seconds the handler asks the engine to wait before retrying
    attr_reader :retry_after

    # @param message [String]
    # @param retry_after [Numeric, nil] seconds to wait before the retry
    def initialize(message = nil, retry_after: nil)
      super(message)
      @retry_after = retry_after
    end
  end

  # Raised by a handler for a failure that retrying cannot fix: the step is not retried.
  class PermanentError < Error; end
end
