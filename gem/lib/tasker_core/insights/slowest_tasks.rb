# frozen_string_literal: true

module TaskerCore
  module Insights
    # The longest-running finished tasks (TASKER.md's slowest tasks).
    #
    #   TaskerCore::Insights::SlowestTasks.query { |q| q.task_name = "fulfil_order" }
    class SlowestTasks
      # One slow task.
      Task = Struct.new(:task_id, :task_name, :namespace_name, :version, :duration_seconds, :step_count,
                        :completed_steps, :error_steps, :created_at, :completed_at, :initiator, :source_system, :task_status,
                        keyword_init: true)

      # @yieldparam query [SlowQuery]
      # @return [Array<Task>] longest first
      def self.query(engine: nil)
        q = SlowQuery.new
        yield q if block_given?
        Insights.engine!(engine).native.slowest("tasks", *q.to_native).map do |r|
          Task.new(**r, created_at: Insights.time(r[:created_at]), completed_at: Insights.time(r[:completed_at]))
        end
      end
    end
  end
end
