# frozen_string_literal: true

module TaskerCore
  # One lifecycle or custom event, as a subscriber receives it.
  class Event
    # @return [String] e.g. "step.completed"
    attr_reader :name
    # @return [Integer]
    attr_reader :task_id
    # @return [Integer, nil]
    attr_reader :step_id
    # @return [Time] UTC
    attr_reader :occurred_at
    # @return [Hash] task_id, step_id, step_name, task_name, namespace, attempt, duration_ms, error...
    attr_reader :context

    # @param name [String]
    # @param task_id [Integer]
    # @param step_id [Integer, nil]
    # @param occurred_at [Time]
    # @param context [Hash]
    def initialize(name, task_id, step_id, occurred_at, context)
      @name = name
      @task_id = task_id
      @step_id = step_id
      @occurred_at = occurred_at
      @context = context
    end
  end
end
