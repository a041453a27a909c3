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
                          t.to_state == "complete" ? results : nil, t.metadata["error_message"])
        end
      end
      attempts
    end

    # @param attempt_number [Integer]
    # @param status [String]
    # @param duration_ms [Float, nil]
    # @param output [Object, nil]
    # @param error_message [String, nil]
    def initialize(attempt_number, status, duration_ms, output, error_message)
      @attempt_number = attempt_number
      @status = status
      @duration_ms = duration_ms
      @output = output
      @error_message = error_message
    end

    # @return [Boolean]
    def completed? = status == "complete"

    # @return [Boolean]
    def failed? = status == "error"
  end
end
