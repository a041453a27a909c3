# frozen_string_literal: true

require "json"

module TaskerCore
  # How a handler's exception is reported: retried or not, after what delay, and what it
  # carried besides its message. The one place that knows both tasker-core's error classes
  # and the Tasker engine's (`Tasker::PermanentError`, `Tasker::RetryableError`, whether
  # from the Tasker gem itself or from {file:tasker_compat.rb}), so a handler moved from
  # Tasker keeps its meaning.
  module Failure
    module_function

    # @param error [Exception]
    # @return [Hash] retryable:, retry_after:, details: (a JSON-compatible Hash or nil)
    def classify(error)
      case error
      when PermanentError, HandlerNotFoundError then report(false, nil, error)
      when RetryableError then report(true, error.retry_after, error)
      else
        if tasker_error?(error, :PermanentError) then report(false, nil, error)
        elsif tasker_error?(error, :RetryableError) then report(true, error.retry_after, error)
        else report(true, nil, error)
        end
      end
    end

    # Whether `error` is the Tasker engine's error class `name` (when one is loaded).
    def tasker_error?(error, name)
      defined?(::Tasker) && ::Tasker.const_defined?(name, false) && error.is_a?(::Tasker.const_get(name, false))
    end

    def report(retryable, retry_after, error)
      { retryable: retryable, retry_after: retry_after, details: details(error, retry_after) }
    end

    # error_code, error_context and retry_after, where the error has them; a context that
    # is not JSON-compatible is kept as its inspect text rather than lost.
    def details(error, retry_after)
      out = {}
      code = error.respond_to?(:error_code) ? error.error_code : nil
      out["error_code"] = code.to_s unless code.nil?
      context = error.respond_to?(:context) ? error.context : nil
      out["error_context"] = json_safe(context) if context.is_a?(Hash) && !context.empty?
      out["retry_after"] = retry_after if retry_after.is_a?(Numeric)
      out.empty? ? nil : out
    end

    def json_safe(value)
      JSON.parse(JSON.generate(value))
    rescue StandardError
      value.inspect
    end
  end
end
