# frozen_string_literal: true

module TaskerCore
  # What a task handler sees of a task: its id, template identity and context.
  class TaskContext
    # @return [Integer]
    attr_reader :task_id
    # @return [String]
    attr_reader :name, :namespace, :version
    # @return [Hash] the task's context (String keys)
    attr_reader :context

    # @param task_id [Integer]
    # @param name [String]
    # @param namespace [String]
    # @param version [String]
    # @param context [Hash]
    def initialize(task_id:, name:, namespace:, version:, context:)
      @task_id = task_id
      @name = name
      @namespace = namespace
      @version = version
      @context = context
    end
  end
end
