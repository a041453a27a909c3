# frozen_string_literal: true

module TaskerCore
  # A step that is ready to run, as a coordinator's `on_step_execute` receives it: its
  # identity, plus the full {StepContext} a handler would get.
  class ViableStep
    # @return [TaskerCore::StepContext]
    attr_reader :context

    # @param context [TaskerCore::StepContext]
    def initialize(context)
      @context = context
    end

    # @return [Integer]
    def step_id = context.step_id

    # @return [Integer]
    def task_id = context.task_id

    # @return [String]
    def name = context.step_name

    # @return [String]
    def handler_class = context.handler_class

    # @return [Integer]
    def attempt = context.attempt
  end
end
