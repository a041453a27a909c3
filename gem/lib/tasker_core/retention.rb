# frozen_string_literal: true

module TaskerCore
  # Retention: finished tasks (complete, cancelled, resolved_manually) are deleted with all
  # their rows once they finished longer ago than a configured age, so a long-running
  # store — the in-process `memory:` store included — does not grow with the work done.
  # Tasks not finished, and tasks in error (a manual retry may still run them), are never
  # deleted, whatever their age.
  #
  #   TaskerCore::Engine.start(retention: 7 * 86_400)   # keep a week of finished tasks
  #   engine.cleanup(older_than: 86_400)                # delete now (rake tasker_core:cleanup)
  #   engine.retention_stats[:deleted_tasks]            # also TaskerCore::Insights::Retention
  #
  # The deleting runs on a thread of the engine (Rust), a batch of tasks per transaction;
  # Ruby only configures it. A task deleted is forgotten by the engine too: `task_result`,
  # `task` and `wait_for_task` then raise {ValidationError} ("no such task"), as for an
  # unknown id.
  module Retention
    # Tasks deleted per transaction unless told otherwise.
    DEFAULT_BATCH = 1000

    # Refuses a retention option that is not what {Engine.start} takes, naming it.
    # @param retention [Numeric, nil] seconds a finished task is kept; nil keeps forever
    # @param interval [Numeric, nil] seconds between two runs; nil: half of `retention`,
    #   between 0.1 and 60
    # @param batch [Integer, nil] tasks per transaction; nil: {DEFAULT_BATCH}
    # @return [void]
    # @raise [ValidationError]
    def self.check!(retention:, interval:, batch:)
      seconds!(:retention, retention, zero: true) unless retention.nil?
      seconds!(:retention_interval, interval, zero: false) unless interval.nil?
      batch!(:retention_batch, batch) unless batch.nil?
      return unless retention.nil? && !(interval.nil? && batch.nil?)

      raise ValidationError, "retention_interval and retention_batch need retention: (seconds a finished task is kept)"
    end

    # Refuses what is not a number of seconds (above 0, or from 0 with `zero:`), naming
    # `option`.
    # @return [void]
    # @raise [ValidationError]
    def self.seconds!(option, value, zero:)
      ok = value.is_a?(Numeric) && !value.is_a?(Complex) && value.finite? && (zero ? value >= 0 : value.positive?)
      return if ok

      raise ValidationError, "#{option}: expected #{zero ? 'a non-negative' : 'a positive'} number of seconds, " \
                             "got #{value.inspect[0, 100]}"
    end

    # Refuses a batch size that is not a positive Integer, naming `option`.
    # @return [void]
    # @raise [ValidationError]
    def self.batch!(option, value)
      return if value.is_a?(Integer) && value.positive?

      raise ValidationError, "#{option}: expected an Integer of at least 1, got #{value.inspect[0, 100]}"
    end

    # The methods {Engine} gets for retention.
    module EngineMethods
      # Deletes now every task that finished more than `older_than` seconds ago, with all its
      # rows, `batch_size` tasks per transaction (what `rake tasker_core:cleanup` runs). Works
      # whether or not the engine runs retention itself.
      # @param older_than [Numeric] seconds
      # @param batch_size [Integer, nil] default {DEFAULT_BATCH}
      # @return [Hash] deleted_tasks:, deleted_steps:
      # @raise [ValidationError] for a bad argument (nothing is deleted)
      def cleanup(older_than:, batch_size: nil)
        Retention.seconds!(:older_than, older_than, zero: true)
        Retention.batch!(:batch_size, batch_size) unless batch_size.nil?
        @native.purge_finished(Float(older_than), batch_size)
      end

      # What retention deleted in this engine so far (its thread and {#cleanup} runs).
      # @return [Hash] enabled:, retention_seconds:, interval_seconds:, batch_size:, runs:,
      #   deleted_tasks:, deleted_steps:, last_run_at: (ISO 8601 or nil), last_run_tasks:,
      #   last_run_seconds:, last_error:
      def retention_stats
        @native.retention_stats
      end
    end
  end
end
