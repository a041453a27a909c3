# frozen_string_literal: true

module TaskerCore
  # How a task ended: `:complete`, `:error`, or `:reenqueue` (not finished within the
  # time given; call again later to keep driving it), with one {StepResult} per step.
  class TaskResult
    # @return [Integer]
    attr_reader :task_id
    # @return [Symbol] :complete, :error or :reenqueue
    attr_reader :status
    # @return [String] the task's state when the result was taken
    attr_reader :state
    # @!method current_state
    #   The same as {#state}, under the name {Task#current_state} and {Step#current_state}
    #   (Tasker's) use, so code reading either kind of object can ask the same way.
    #   @return [String]
    alias current_state state
    # @return [Array<StepResult>] in template order
    attr_reader :steps

    # Builds a result from `Native::Engine#task_summary`'s Hash.
    # @param task [Hash]
    # @return [TaskResult]
    def self.from_h(task)
      status = case task["state"]
               when "complete", "resolved_manually" then :complete
               when "error", "cancelled" then :error
               else :reenqueue
               end
      new(task_id: task["task_id"], status: status, state: task["state"],
          steps: task["steps"].map { |s| StepResult.from_h(s) })
    end

    # @param task_id [Integer]
    # @param status [Symbol]
    # @param state [String]
    # @param steps [Array<StepResult>]
    def initialize(task_id:, status:, state:, steps:)
      @task_id = task_id
      @status = status
      @state = state
      @steps = steps
    end

    # @return [Boolean]
    def complete? = status == :complete

    # @return [Boolean]
    def error? = status == :error

    # @return [Boolean]
    def reenqueue? = status == :reenqueue

    # The result of the step called `name`.
    # @param name [String, Symbol]
    # @return [StepResult, nil]
    def step(name)
      steps.find { |s| s.name == name.to_s }
    end

    # Step results by name.
    # @return [Hash{String => Object}]
    def results
      steps.to_h { |s| [s.name, s.results] }
    end
  end
end
