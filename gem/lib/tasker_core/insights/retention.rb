# frozen_string_literal: true

require "time"

module TaskerCore
  module Insights
    # What retention (deleting old finished tasks, see {TaskerCore::Retention}) did in this
    # engine: whether it runs, with which age, and how much it deleted so far.
    #
    #   TaskerCore::Insights::Retention.current.deleted_tasks
    class Retention
      # The engine's retention counts; `last_run_at` is a Time (UTC) or nil.
      Stats = Struct.new(:enabled, :retention_seconds, :interval_seconds, :batch_size, :runs, :deleted_tasks,
                         :deleted_steps, :last_run_at, :last_run_tasks, :last_run_seconds, :last_error,
                         keyword_init: true)

      # The counts now (no query: the engine keeps them).
      # @param engine [TaskerCore::Engine, nil] default: the process-wide engine
      # @return [Stats]
      def self.current(engine: nil)
        stats = Insights.engine!(engine).retention_stats
        at = stats[:last_run_at]
        Stats.new(**stats, last_run_at: at && Time.iso8601(at).utc)
      end
    end
  end
end
