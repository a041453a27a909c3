# frozen_string_literal: true

module TaskerCore
  # Where the engine's own threads' messages go: a store that stopped answering and answers
  # again, a schedule that could not submit, a task another process took over. Those threads
  # are Rust's and never call Ruby, so they queue their messages ({Native::LogDrain}) and one
  # Ruby thread of the process writes them to the loggers of the engines started with
  # `logger:` (`Rails.logger` in a Rails app). While no such engine is open, and in a forked
  # child until one starts there, they go to stderr as before. At exit, what is queued is
  # written before Ruby stops the thread.
  module EngineLog
    # Messages taken per wait.
    BATCH = 64
    # How long the last engine's close waits for the thread to write what it took.
    JOIN_SECONDS = 1

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

      # Undoes one {.attach} of `logger`. With none left, what is queued is written to it
      # first (the store's last words at close), then messages go to stderr again.
      # @param logger [#info, #warn, #error]
      # @return [void]
      def detach(logger)
        last = @lock.synchronize do
          next unless @pid == Process.pid

          entry = @loggers.find { |l, _| l.equal?(logger) } or next
          entry[1] -= 1
          @loggers.delete(entry) if entry[1].zero? && @loggers.size > 1
          entry if @loggers == [entry] && entry[1].zero?
        end
        close_drain(last) if last
      end

      # Writes what is queued and detaches, so nothing waits for a thread Ruby is about to
      # stop (registered with at_exit).
      # @return [void]
      def shutdown
        drain, thread = @lock.synchronize { [@drain, @thread] if @pid == Process.pid }
        return unless drain

        flush(drain)
        @lock.synchronize do
          drain.close
          @drain = @thread = nil if @drain.equal?(drain)
        end
        # It may hold what it took last, waiting for the GVL to write it.
        thread&.join(JOIN_SECONDS) unless thread.equal?(Thread.current)
      end

      # @return [Array] the loggers messages go to now
      def loggers = @lock.synchronize { @loggers.reject { |_, n| n.zero? }.map(&:first) }

      private

      # The parent's thread and engines are not this process's.
      def forget_parent
        @pid = Process.pid
        @loggers = []
        @drain = @thread = nil
      end

      # Also after the thread was killed (Thread#kill): the same drain, a new thread.
      def start_drain
        at_exit { EngineLog.shutdown } unless @at_exit
        @at_exit = true
        drain = @drain ||= Native::LogDrain.attach
        @thread = Thread.new { run(drain) }
        @thread.name = "tasker-core log"
        @thread.report_on_exception = false
      end

      # The last logger's detach: what is queued goes to it, the thread ends (writing what
      # it took to it too), then the logger is let go.
      def close_drain(entry)
        drain, thread = @lock.synchronize { [@drain, @thread] }
        flush(drain) if drain
        @lock.synchronize do
          next unless entry[1].zero? && @loggers == [entry] && @drain.equal?(drain)

          drain&.close
          @drain = @thread = nil
        end
        thread&.join(JOIN_SECONDS) unless thread.equal?(Thread.current)
        @lock.synchronize { @loggers.delete(entry) if entry[1].zero? }
      end

      def flush(drain)
        loop do
          batch = drain.take(BATCH, 0)
          break if batch.empty?

          batch.each { |level, message| write(level, message) }
        end
      end

      def run(drain)
        loop do
          batch = drain.take(BATCH, 60)
          batch.each { |level, message| write(level, message) }
          break if batch.empty? && !@lock.synchronize { @drain.equal?(drain) }
        end
      end

      # To every attached logger (the last one until its detach is done); a logger that
      # raises loses that message for itself only.
      def write(level, message)
        targets = @lock.synchronize { @loggers.map(&:first) }
        return $stderr.write("#{message}\n") if targets.empty?

        targets.each do |logger|
          logger.public_send(level, message)
        rescue StandardError
          nil
        end
      end
    end
  end
end
