# frozen_string_literal: true

module TaskerCore
  module Insights
    # Throughput and outcomes over a period (TASKER.md's analytics metrics), from the store.
    # Each field's exact definition is on `tasker_state::insights::AnalyticsMetrics`:
    # counts of tasks created, completed and failed in the period, their ratios, mean
    # durations in seconds, and `system_health_score` = completed / (completed + error).
    class AnalyticsMetrics
      FIELDS = %i[active_tasks_count total_namespaces_count unique_task_types_count system_health_score
                  task_throughput completion_count error_count completion_rate error_rate avg_task_duration
                  avg_step_duration step_throughput analysis_period_start calculated_at].freeze

      # @return [Numeric, Time] see FIELDS
      attr_reader(*FIELDS)

      # The metrics from `since` (default: an hour ago) until now.
      # @param since [Time, Numeric]
      # @return [AnalyticsMetrics]
      def self.current(since: Time.now - 3600, engine: nil)
        new(Insights.engine!(engine).native.analytics_metrics(Insights.micros(since)))
      end

      # @param row [Hash{Symbol => Object}]
      def initialize(row)
        FIELDS.each { |f| instance_variable_set(:"@#{f}", row.fetch(f)) }
        @analysis_period_start = Insights.time(row.fetch(:analysis_period_start))
        @calculated_at = Insights.time(row.fetch(:calculated_at))
      end

      # @return [Hash{Symbol => Object}]
      def to_h = FIELDS.to_h { |f| [f, public_send(f)] }
    end
  end
end
