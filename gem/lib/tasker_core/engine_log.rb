# frozen_string_literal: true

module TaskerCore
  # Where the engine's own threads' messages go: a store that stopped answering and answers
  # again, a schedule that could not submit, a task another process took over. Those threads
  # are Rust's and never call Ruby, so they queue their messages ({Native::LogDrain}) and one
  # Ruby thread of the process writes them to the loggers of the engines started with
  # `logger:` (`Rails.logger` in a Rails app). While no such engine is open, and in a forked
  # child until one starts there, they go to stderr as before.
  module EngineLog
    # Messages taken per wait.
    BATCH = 64

    @lock = Mutex.new
    @loggers = [] # [logger, engines attached with it]
    @drain = nil
    @thread = nil
    @pid = nil

    class << self
      # Writes the engine threads' messages to `logger` from now on, beside any other attached.
      # @param logger [#info, #warn, #error]
      # @return [void]
      def attach(logger)
        @lock.synchronize do
          forget_parent unless @pid == Process.pid
          entry = @loggers.find { |l, _| l.equal?(logger) }
          entry ? entry[1] += 1 : @loggers << [logger, 1]
          start_drain unless @thread&.alive?
        end
      end

      # Undoes one {.attach} of `logger`; with none left, messages go to stderr again.
      # @param logger [#info, #warn, #error]
      # @return [void]
      def detach(logger)
        @lock.synchronize do
          return unless @pid == Process.pid

          entry = @loggers.find { |l, _| l.equal?(logger) } or return
          entry[1] -= 1
          @loggers.delete(entry) if entry[1].zero?
          next unless @loggers.empty?

          @drain.close # its thread writes what it took, then ends
          @drain = @thread = nil
        end
      end

      # @return [Array] the loggers messages go to now
      def loggers = @lock.synchronize { @loggers.map(&:first) }

      private

      # The parent's thread and engines are not this process's.
      def forget_parent
        @pid = Process.pid
        @loggers = []
        @drain = @thread = nil
      end

      # Also after the thread was killed (Thread#kill): the same drain, a new thread.
      def start_drain
        drain = @drain ||= Native::LogDrain.attach
        @thread = Thread.new { run(drain) }
        @thread.name = "tasker-core log"
        @thread.report_on_exception = false
      end

      def run(drain)
        loop do
          batch = drain.take(BATCH, 60)
          batch.each { |level, message| write(level, message) }
          break if batch.empty? && !@lock.synchronize { @drain.equal?(drain) }
        end
      end

      # A logger that raises loses that message for itself only.
      def write(level, message)
        targets = loggers
        return Kernel.warn(message) if targets.empty?

        targets.each do |logger|
          logger.public_send(level, message)
        rescue StandardError
          nil
        end
      end
    end
  end
end
