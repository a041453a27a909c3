# frozen_string_literal: true

module TaskerCore
  # How one step of a finished (or stopped) task ended.
  class StepResult
    # @return [Integer]
    attr_reader :step_id
    # @return [String]
    attr_reader :name
    # @return [String] the step's state
    attr_reader :status
    # @return [Object, nil]
    attr_reader :results
    # @return [Integer]
    attr_reader :attempts
    # @return [String, nil] the last error message, if the step ever failed
    attr_reader :error

    # Builds a result from a step Hash of `Native::Engine#task_summary`.
    # @param step [Hash]
    # @return [StepResult]
    def self.from_h(step)
      new(step_id: step["step_id"], name: step["name"], status: step["state"], results: step["results"],
          attempts: step["attempts"], error: step["error"])
    end

    # @param step_id [Integer]
    # @param name [String]
    # @param status [String]
    # @param results [Object]
    # @param attempts [Integer]
    # @param error [String, nil]
    def initialize(step_id:, name:, status:, results:, attempts:, error:)
      @step_id = step_id
      @name = name
      @status = status
      @results = results
      @attempts = attempts
      @error = error
    end

    # @return [Boolean]
    def complete? = status == "complete"

    # @return [Boolean]
    def failed? = status == "error"
  end
end
