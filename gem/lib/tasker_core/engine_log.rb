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
        closing = @lock.synchronize do
          next unless @pid == Process.pid

          entry = @loggers.find { |l, n| l.equal?(logger) && n.positive? } or next
          entry[1] -= 1
          next if entry[1].positive?

          if @loggers.any? { |_, n| n.positive? }
            @loggers.delete(entry)
            next
          end

          # The last: this call closes. The drain is taken now, so an attach meanwhile
          # starts a drain of its own.
          taken = [entry, @drain, @thread]
          @drain = @thread = nil
          taken
        end
        close_drain(*closing) if closing
      end

      # Writes what is queued and detaches, so nothing waits for a thread Ruby is about to
      # stop (registered with at_exit). A kill in the middle of a write loses the rest of
      # that write's batch.
      # @return [void]
      def shutdown
        drain, thread = @lock.synchronize do
          next unless @pid == Process.pid

          taken = [@drain, @thread]
          @drain = @thread = nil
          taken
        end
        close_drain(nil, drain, thread) if drain
      end

      # @return [Array] the loggers messages go to now (one whose engine is closing included,
      #   until its close is done)
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
        at_exit { EngineLog.shutdown } unless @at_exit
        @at_exit = true
        drain = @drain ||= Native::LogDrain.attach
        @thread = Thread.new { run(drain) }
        @thread.name = "tasker-core log"
        @thread.report_on_exception = false
      end

      # After the last detach (`entry`, its count 0, still written to) or at exit: what is
      # queued is written, the thread ends (writing what it took), then the entry goes. Runs
      # to the end whatever interrupts the writing.
      def close_drain(entry, drain, thread)
        flush(drain) if drain
      ensure
        begin
          drain&.close
          thread&.join(JOIN_SECONDS) unless thread.nil? || thread.equal?(Thread.current)
        ensure
          @lock.synchronize { @loggers.delete(entry) if entry && entry[1].zero? }
        end
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
