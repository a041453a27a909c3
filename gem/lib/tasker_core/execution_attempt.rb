# frozen_string_literal: true

module TaskerCore
  # One run of a step's handler, read from the step's history: an in_progress transition
  # and the complete or error transition that ended it.
  class ExecutionAttempt
    # @return [Integer] 1 for the first run
    attr_reader :attempt_number
    # @return [String] "complete", "error", or "in_progress" for a run not finished
    attr_reader :status
    # @return [Float, nil] milliseconds, as the engine measured it
    attr_reader :duration_ms
    # @return [Object, nil] the step's results, for the run that completed it
    attr_reader :output
    # @return [String, nil]
    attr_reader :error_message
    # @return [String, nil] the failing error's class
    attr_reader :error_class
    # @return [String, nil] the error's code (`PermanentError.new(msg, error_code: ...)`)
    attr_reader :error_code
    # @return [Hash, nil] the error's `context`, as recorded
    attr_reader :error_context
    # @return [Numeric, nil] the delay the error asked for (`retry_after`)
    attr_reader :retry_after

    # Attempts of a step from its history.
    # @param transitions [Array<Transition>]
    # @param results [Object] the step's stored results
    # @return [Array<ExecutionAttempt>]
    def self.from_history(transitions, results)
      attempts = []
      transitions.each do |t|
        if t.to_state == "in_progress"
          attempts << new(attempts.size + 1, "in_progress", nil, nil, nil)
        elsif attempts.any? && attempts.last.status == "in_progress" && %w[complete error].include?(t.to_state)
          last = attempts.pop
          attempts << new(last.attempt_number, t.to_state, t.metadata["duration_ms"],
                          t.to_state == "complete" ? results : nil, t.metadata["error_message"], t.metadata)
        end
      end
      attempts
    end

    # @param attempt_number [Integer]
    # @param status [String]
    # @param duration_ms [Float, nil]
    # @param output [Object, nil]
    # @param error_message [String, nil]
    # @param metadata [Hash] the transition's metadata (error class, code, context)
    def initialize(attempt_number, status, duration_ms, output, error_message, metadata = {})
      @attempt_number = attempt_number
      @status = status
      @duration_ms = duration_ms
      @output = output
      @error_message = error_message
      @error_class = metadata["error_class"]
      @error_code = metadata["error_code"]
      @error_context = metadata["error_context"]
      @retry_after = metadata["retry_after"]
    end

    # @return [Boolean]
    def completed? = status == "complete"

    # @return [Boolean]
    def failed? = status == "error"
  end
end
