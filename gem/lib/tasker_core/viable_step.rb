# frozen_string_literal: true

module TaskerCore
  # A step that is ready to run, as a coordinator's `on_step_execute` receives it.
  class ViableStep
    # @return [TaskerCore::StepContext]
    attr_reader :context

    # @param ready [TaskerCore::Native::ReadyStep]
    # @param context [TaskerCore::StepContext]
    def initialize(ready, context)
      @ready = ready
      @context = context
    end

    # @return [Integer]
    def step_id = @ready.step_id

    # @return [Integer]
    def task_id = @ready.task_id

    # @return [String]
    def name = @ready.name

    # @return [String]
    def handler_class = @ready.handler_class

    # @return [Integer]
    def attempt = @ready.attempt
  end
end
