# frozen_string_literal: true

module TaskerCore
  module Insights
    # The longest-running finished steps (TASKER.md's slowest steps), each with the average
    # duration and run count of its step (same namespace, task and step name) over the same
    # window.
    #
    #   TaskerCore::Insights::SlowestSteps.query { |q| q.namespace = "payments"; q.limit = 10 }
    #     .each { |s| puts "#{s.step_name}: avg #{s.avg_duration_ms}ms (#{s.execution_count} runs)" }
    class SlowestSteps
      # One slow step.
      Step = Struct.new(:workflow_step_id, :task_id, :step_name, :task_name, :namespace_name, :version,
                        :duration_seconds, :attempts, :created_at, :completed_at, :retryable, :step_status,
                        :avg_duration_ms, :execution_count, keyword_init: true)

      # @yieldparam query [SlowQuery]
      # @return [Array<Step>] longest first
      def self.query(engine: nil)
        q = SlowQuery.new
        yield q if block_given?
        native = Insights.engine!(engine).native
        args = q.to_native
        rows = native.slowest("steps", *args)
        # Every group of the window, to give each row its step's average and count.
        groups = native.slowest("step_groups", args[0], 2**32 - 1, *args[2..])
                       .to_h { |g| [[g[:namespace_name], g[:task_name], g[:step_name]], g] }
        rows.map do |r|
          group = groups.fetch([r[:namespace_name], r[:task_name], r[:step_name]], {})
          Step.new(**r, created_at: Insights.time(r[:created_at]), completed_at: Insights.time(r[:completed_at]),
                        avg_duration_ms: group[:avg_duration_ms], execution_count: group[:execution_count])
        end
      end
    end
  end
end
