# frozen_string_literal: true

module Tasker
  # The seed's delegation pattern (docs/rails.md, "Migrating from the Tasker engine"): with
  # the feature flag on, tasker-core drives the task; off, the Tasker engine's coordinator
  # does, unchanged.
  class PerformanceCoordinator < Tasker::WorkflowCoordinator
    # @param task_id [Integer] a pending task (TaskerCore.engine.create_task) when tasker-core runs it
    # @return [TaskerCore::TaskResult, Object] whatever the chosen coordinator returns
    def execute_task_workflow(task_id)
      if high_performance_needed?(task_id)
        rust_coordinator.execute_task_workflow(task_id) { |config| config.max_parallel_steps = 4 }
      else
        super # the Tasker engine's own coordinator
      end
    end

    private

    def high_performance_needed?(_task_id)
      TaskerCore::Rails.orchestrating?
    end

    def rust_coordinator
      @rust_coordinator ||= TaskerCore::WorkflowCoordinator.new(TaskerCore.engine)
    end
  end
end
