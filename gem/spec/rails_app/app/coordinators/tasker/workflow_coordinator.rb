# frozen_string_literal: true

module Tasker
  # Stands in for the Tasker Rails engine's coordinator, which an app moving to tasker-core
  # already has (the tasker-engine gem is not packaged on this machine). It only records
  # that it was asked, which is what the migration spec needs to see.
  class WorkflowCoordinator
    # Task ids this coordinator was asked to run, in this process.
    # @return [Array<Integer>]
    def self.runs
      @runs ||= []
    end

    # @param task_id [Integer]
    # @return [Hash]
    def execute_task_workflow(task_id)
      WorkflowCoordinator.runs << task_id
      { "coordinator" => "tasker-engine", "task_id" => task_id }
    end
  end
end
