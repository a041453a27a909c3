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

    # The step's input (its task's context), so a handler's `process(context)` can be
    # given the ViableStep itself, as the plan's coordinator example does.
    # @return [Hash]
    def input_data = context.input_data

    # @return [Hash]
    def task_context = context.task_context

    # @return [Hash]
    def handler_config = context.handler_config

    # @return [Hash{String => Object}]
    def parent_results = context.parent_results
  end
end
