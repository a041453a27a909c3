# frozen_string_literal: true

module TaskerCore
  # How the system is doing, without writing SQL (TASKER.md, "Analytics"):
  #
  #   health = TaskerCore::Insights::SystemHealthCounts.current
  #   health.tasks_in_progress            # live counters: no query
  #   health.system_load_percentage       # steps in flight / pool capacity
  #   TaskerCore::Insights::AnalyticsMetrics.current(since: Time.now - 3600).completion_rate
  #   TaskerCore::Insights::SlowestSteps.query { |q| q.namespace = "payments"; q.limit = 5 }
  module Insights
    # Microseconds since the epoch, as the engine counts time.
    # @param time [Time, Numeric] a Time, or seconds since the epoch
    # @return [Integer]
    def self.micros(time)
      unless time.is_a?(Time) || time.is_a?(Numeric)
        raise ValidationError, "since: must be a Time or seconds since the epoch, got #{time.inspect}"
      end

      (time.to_r * 1_000_000).to_i
    end

    # A Time from microseconds since the epoch (nil stays nil).
    # @param micros [Integer, nil]
    # @return [Time, nil]
    def self.time(micros)
      micros && Time.at(Rational(micros, 1_000_000)).utc
    end

    # The engine to ask: the one given, else the process-wide one.
    # @return [TaskerCore::Engine]
    def self.engine!(engine)
      engine || TaskerCore.engine || raise(OrchestrationError, "TaskerCore is not started; call TaskerCore.start or pass engine:")
    end
  end
end

require_relative "insights/system_health_counts"
require_relative "insights/analytics_metrics"
require_relative "insights/slow_query"
require_relative "insights/slowest_steps"
require_relative "insights/slowest_tasks"
require_relative "insights/processes"
require_relative "insights/retention"
