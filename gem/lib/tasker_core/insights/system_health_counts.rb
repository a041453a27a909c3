# frozen_string_literal: true

module TaskerCore
  module Insights
    # How many tasks and steps are in each state (TASKER.md's system health counts), plus
    # `tasks_in_progress`, `steps_pending` and `system_load_percentage`.
    #
    # {.current} reads the engine's live counters (no query, a few microseconds): they start
    # from the store's counts when the engine starts and move with every batch it commits.
    # Two fields need the database and are nil there: `active_connections` and
    # `max_connections`; and `in_backoff_steps` is the live count of failed steps waiting
    # for their retry. {.from_store} asks the store instead (one query): exact even when
    # other processes write to the same database, with the PostgreSQL connection counts and
    # TASKER.md's time-based backoff count.
    class SystemHealthCounts
      FIELDS = %i[total_tasks pending_tasks in_progress_tasks complete_tasks error_tasks cancelled_tasks
                  resolved_manually_tasks total_steps pending_steps in_progress_steps complete_steps error_steps
                  cancelled_steps resolved_manually_steps retryable_error_steps exhausted_retry_steps
                  in_backoff_steps active_connections max_connections].freeze

      # @return [Integer, nil] see FIELDS and TASKER.md
      attr_reader(*FIELDS)
      # @return [Integer] steps handed to workers and not yet reported
      attr_reader :steps_in_flight
      # @return [Integer] steps the running thread and Ractor pools can run at once
      attr_reader :capacity

      # The order of `Native::Engine#health`'s Array.
      LIVE = %i[total_tasks pending_tasks in_progress_tasks complete_tasks error_tasks cancelled_tasks
                resolved_manually_tasks total_steps pending_steps in_progress_steps complete_steps error_steps
                cancelled_steps resolved_manually_steps retryable_error_steps exhausted_retry_steps
                steps_in_flight capacity].freeze

      # The live counts of `engine` (default: the process-wide engine).
      # @return [SystemHealthCounts]
      def self.current(engine: nil)
        counts = Insights.engine!(engine).native.health
        # No Hash in between: this is meant to cost a few microseconds.
        counts << counts[14] # in_backoff_steps: failed steps waiting for their retry
        allocate.tap { |health| health.__send__(:assign, counts) }
      end

      # The counts as the store holds them (one query).
      # @return [SystemHealthCounts]
      def self.from_store(engine: nil)
        native = Insights.engine!(engine).native
        live = native.health
        new(native.stored_health.merge(steps_in_flight: live[16], capacity: live[17]))
      end

      # @param counts [Hash{Symbol => Integer, nil}] FIELDS, steps_in_flight and capacity
      def initialize(counts)
        FIELDS.each { |f| instance_variable_set(:"@#{f}", counts[f]) }
        @steps_in_flight = counts.fetch(:steps_in_flight, 0)
        @capacity = counts.fetch(:capacity, 0)
      end

      # @return [Integer]
      def tasks_in_progress = in_progress_tasks

      # @return [Integer]
      def steps_pending = pending_steps

      # Steps in flight as a percentage of what the pools can run at once (0.0 with no pool).
      # @return [Float]
      def system_load_percentage
        capacity.zero? ? 0.0 : (steps_in_flight * 100.0 / capacity).round(2)
      end

      private

      # LIVE's values, then in_backoff_steps.
      def assign(v)
        @total_tasks, @pending_tasks, @in_progress_tasks, @complete_tasks, @error_tasks, @cancelled_tasks,
          @resolved_manually_tasks, @total_steps, @pending_steps, @in_progress_steps, @complete_steps,
          @error_steps, @cancelled_steps, @resolved_manually_steps, @retryable_error_steps,
          @exhausted_retry_steps, @steps_in_flight, @capacity, @in_backoff_steps = v
      end

      public

      # @return [Hash{Symbol => Object}]
      def to_h
        FIELDS.to_h { |f| [f, public_send(f)] }
              .merge(tasks_in_progress: tasks_in_progress, steps_pending: steps_pending,
                     steps_in_flight: steps_in_flight, capacity: capacity,
                     system_load_percentage: system_load_percentage)
      end
    end
  end
end
