# frozen_string_literal: true

require "set"

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
  # Ruby only configures it. With an export hook (`retention_export:`, anything that
  # responds to #call) a Ruby thread runs it instead ({Exporter}): each batch is read as
  # {Task}s, handed to the hook, and deleted only once the hook returned; a hook that
  # raises deletes nothing (the batch is offered again at the next run). A task deleted is forgotten by the engine too: `task_result`,
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

    # Refuses an export hook that cannot be called, naming the option.
    # @return [void]
    # @raise [ValidationError]
    def self.export!(option, value)
      return if value.nil? || value.respond_to?(:call)

      raise ValidationError, "#{option}: expected something that responds to #call (a Proc or an object), " \
                             "got #{value.inspect[0, 100]}"
    end

    # Retention with an export hook: a Ruby thread that, every interval, reads the expired
    # finished tasks a batch at a time, hands them to the hook as {Task}s, then deletes the
    # ones still expired. The engine (Rust) never calls Ruby, so Ruby drives: the reads and
    # deletes run with the GVL released; only the hook holds it.
    class Exporter
      # @param engine [Engine]
      # @param keep [Numeric] seconds a finished task is kept
      # @param interval [Numeric, nil] seconds between runs; nil: half of `keep`, 0.1 to 60
      # @param batch [Integer, nil] tasks per hook call and per delete
      # @param export [#call] called with an Array of {Task}
      def initialize(engine, keep:, interval:, batch:, export:)
        @engine = engine
        @keep = Float(keep)
        @interval = interval.nil? ? (@keep / 2).clamp(0.1, 60.0) : Float(interval)
        @batch = batch || DEFAULT_BATCH
        @export = export
        @lock = Mutex.new
        @wake = ConditionVariable.new
        @stopping = false
        @thread = nil
        @last_error = nil
        @reported = Set.new
      end

      # @return [String, nil] the last failed run's error (the hook's or the store's)
      attr_reader :last_error
      # @return [Float] seconds a finished task is kept
      attr_reader :keep
      # @return [Float] seconds between two runs
      attr_reader :interval
      # @return [Integer] tasks per hook call
      attr_reader :batch

      # Starts the thread.
      # @return [self]
      def start
        @thread = Thread.new do
          Thread.current.name = "tasker-core retention export"
          loop do
            run
            break if @lock.synchronize { @wake.wait(@lock, @interval) unless @stopping; @stopping }
          end
        end
        self
      end

      # Stops the thread after the batch in progress (the hook's call included).
      # @return [void]
      def stop
        @lock.synchronize do
          @stopping = true
          @wake.broadcast
        end
        @thread&.join
        @thread = nil
      end

      # One run: batches until one comes back short. A failure ends the run and is kept in
      # {#last_error} and logged; what the hook was given is then not deleted. A task whose
      # rows cannot be read ({UnreadableRowError}) is neither exported nor deleted: it is
      # logged (once), left in place and passed over for the rest of the run (the next run
      # tries it again), so it holds back no other task. The hook never gets an empty batch.
      # @param older_than [Numeric] seconds
      # @param batch [Integer]
      # @return [Hash] deleted_tasks:, deleted_steps:, exported_tasks:
      def run(older_than = @keep, batch = @batch)
        totals = { deleted_tasks: 0, deleted_steps: 0, exported_tasks: 0 }
        unreadable = Set.new
        loop do
          # Expired tasks come oldest first, so the ones passed over come again at the head:
          # ask for that many more.
          wanted = batch + unreadable.size
          fetched = @engine.native.expired_tasks(Float(older_than), wanted)
          ids = fetched.reject { |id| unreadable.include?(id) }
          break if ids.empty?

          tasks = ids.filter_map { |id| read(id, unreadable) }
          @export.call(tasks) unless tasks.empty?
          totals[:exported_tasks] += tasks.size
          deleted = @engine.native.purge_exported(Float(older_than), tasks.map(&:task_id))
          totals[:deleted_tasks] += deleted[:deleted_tasks]
          totals[:deleted_steps] += deleted[:deleted_steps]
          break if fetched.size < wanted || @stopping
        end
        @last_error = nil
        totals
      rescue StandardError => e
        @last_error = "#{e.class}: #{e.message}"
        raise unless @thread && Thread.current == @thread

        @engine.send(:log, :error, "tasker-core: retention export: #{@last_error} (nothing of this batch was deleted)")
        totals
      end

      private

      # A task gone meanwhile (another engine deleted it) is left out; so is one whose rows
      # cannot be read, added to `unreadable` and logged.
      def read(id, unreadable)
        @engine.task(id)
      rescue ValidationError
        nil
      rescue UnreadableRowError => e
        unreadable << id
        # Once per exporter, not at every run.
        if @reported.add?(id)
          @engine.send(:log, :error, "tasker-core: retention export: task #{id} was neither exported nor deleted " \
                                     "(its rows cannot be read; fix or delete them in SQL): #{e.message}")
        end
        nil
      end
    end

    # The methods {Engine} gets for retention.
    module EngineMethods
      # Runs retention from Ruby with an export hook ({Engine.start}'s `retention_export:`
      # calls this): see {Exporter}. Once per engine, instead of the engine's own thread.
      # @param keep [Numeric] seconds a finished task is kept
      # @param interval [Numeric, nil]
      # @param batch [Integer, nil]
      # @param export [#call]
      # @return [void]
      # @raise [ValidationError] for a bad argument, or when retention already runs
      def start_retention_export(keep:, export:, interval: nil, batch: nil)
        Retention.check!(retention: keep, interval: interval, batch: batch)
        Retention.export!(:retention_export, export)
        raise ValidationError, "retention_export: an export hook is needed" if export.nil?
        if @retention_exporter || @native.retention_stats[:enabled]
          raise ValidationError, "this engine already runs retention"
        end

        @retention_export = export
        @retention_exporter = Exporter.new(self, keep: keep, interval: interval, batch: batch, export: export).start
      end

      # Deletes now every task that finished more than `older_than` seconds ago, with all its
      # rows, `batch_size` tasks per transaction (what `rake tasker_core:cleanup` runs). Works
      # whether or not the engine runs retention itself. With an export hook (the engine's
      # `retention_export:` unless given here), each batch is handed to it first, and a hook
      # that raises stops the cleanup with that error, that batch not deleted.
      # @param older_than [Numeric] seconds
      # @param batch_size [Integer, nil] default {DEFAULT_BATCH}
      # @param export [#call, nil] called with each batch as an Array of {Task}
      # @return [Hash] deleted_tasks:, deleted_steps: (and exported_tasks: with a hook)
      # @raise [ValidationError] for a bad argument (nothing is deleted)
      def cleanup(older_than:, batch_size: nil, export: @retention_export)
        Retention.seconds!(:older_than, older_than, zero: true)
        Retention.batch!(:batch_size, batch_size) unless batch_size.nil?
        Retention.export!(:export, export)
        return @native.purge_finished(Float(older_than), batch_size) if export.nil?

        Exporter.new(self, keep: older_than, interval: nil, batch: batch_size, export: export).run
      end

      # Stops the export thread, if any, after the batch in progress ({#stop} does this).
      # @return [void]
      def stop_retention_export
        @retention_exporter&.stop
      end

      # What retention deleted in this engine so far (its thread and {#cleanup} runs).
      # @return [Hash] enabled:, retention_seconds:, interval_seconds:, batch_size:, runs:,
      #   deleted_tasks:, deleted_steps:, last_run_at: (ISO 8601 or nil), last_run_tasks:,
      #   last_run_seconds:, last_error:
      def retention_stats
        stats = @native.retention_stats
        return stats unless @retention_exporter

        exporter = @retention_exporter
        stats.merge(enabled: true, export: true, retention_seconds: exporter.keep, interval_seconds: exporter.interval,
                    batch_size: exporter.batch, last_error: stats[:last_error] || exporter.last_error)
      end
    end
  end
end
