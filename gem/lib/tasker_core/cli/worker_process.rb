# frozen_string_literal: true

module TaskerCore
  class CLI
    # Keeps a worker engine running until TERM or INT, then stops it: the shutdown protocol
    # shared by `tasker-core work` and `bin/rails tasker_core:work`.
    #
    # - First TERM/INT: stop gracefully. The handler pools take no more steps, running
    #   handlers get up to the shutdown timeout, then the engine hands back every step still
    #   out (it runs again, at least once) and closes its store, which releases its task
    #   claims so other workers take those tasks at once.
    # - Second TERM/INT: hand back now. The handler threads are ended where they are and
    #   the stop goes on to hand back and close without waiting for them (Ractors cannot be
    #   interrupted: with `--ractors`, their running steps still finish or time out).
    # - Later signals are ignored while the stop completes.
    #
    # A signal handler runs in trap context, where a Mutex cannot be taken and an exception
    # would land anywhere in the main thread, so the handlers only push the signal's name
    # onto a Queue; the main thread does the work. Install them ({#trap_signals}) before the
    # engine starts: a signal during a slow start is then acted on once it has started,
    # instead of killing a process that holds claims.
    class WorkerProcess
      # The signals that stop a worker, as Sidekiq, Puma and Solid Queue use them.
      SIGNALS = %w[TERM INT].freeze
      # Seconds a forced stop may take before the process gives up waiting and exits
      # (its claims then expire with its lease, or at once on the same host).
      FORCED_STOP_WAIT = 15

      # @param logger [Logger]
      # @param shutdown_timeout [Numeric] only named in the log line (the stop block applies it)
      def initialize(logger:, shutdown_timeout:)
        @logger = logger
        @shutdown_timeout = shutdown_timeout
        @events = Queue.new
        @previous = {}
      end

      # Replaces the TERM and INT handlers with ones that queue the signal.
      # @return [self]
      def trap_signals
        SIGNALS.each { |signal| @previous[signal] = Signal.trap(signal) { @events << signal } }
        self
      end

      # Blocks until TERM or INT, then runs the stop block on another thread while this one
      # keeps listening for a second signal.
      # @param engine [TaskerCore::Engine] whose handler threads a second signal ends
      # @yield stops and closes the engine (e.g. `engine.close(timeout: 25)`)
      # @return [Symbol] :stopped, :forced (handed back at a second signal) or :abandoned
      #   (the forced stop did not finish within {FORCED_STOP_WAIT})
      # @raise [Exception] what the stop block raised
      def run(engine, &stop)
        signal = @events.pop
        started = monotonic
        log(:info, "#{signal} received: stopping; running steps get up to #{@shutdown_timeout} s " \
                   "(#{signal} again hands them back at once)")
        stopper = start_stopper(stop)
        outcome = wait_for_stop(engine)
        unless outcome == :abandoned
          log(:info, format("stopped in %.2f s%s", monotonic - started, outcome == :forced ? " (forced)" : ""))
        end
        outcome
      ensure
        stopper&.kill if outcome == :abandoned
        @timer&.kill
        restore_signals
      end

      private

      def start_stopper(stop)
        Thread.new do
          Thread.current.name = "tasker-stop"
          stop.call
          @events << :stopped
        rescue Exception => e # rubocop:disable Lint/RescueException -- re-raised in the main thread
          @events << e
        end
      end

      def wait_for_stop(engine)
        forced = false
        loop do
          event = @events.pop
          case event
          when :stopped then return forced ? :forced : :stopped
          when :gave_up
            log(:error, "the stop did not finish #{FORCED_STOP_WAIT} s after the second signal: exiting without it")
            return :abandoned
          when Exception then raise event
          else
            next if forced

            forced = true
            force(engine, event)
          end
        end
      end

      # Ends the handler threads, so the stop stops waiting for them and hands their steps
      # back now; a timer bounds what is left (Ractors, the store's last writes).
      def force(engine, signal)
        log(:warn, "#{signal} received again: handing back running steps now")
        engine.pool&.kill
        @timer = Thread.new do
          sleep FORCED_STOP_WAIT
          @events << :gave_up
        end
      end

      def restore_signals
        @previous.each { |signal, handler| Signal.trap(signal, handler || "DEFAULT") }
        @previous.clear
      end

      def log(level, message)
        @logger&.public_send(level, "tasker-core: #{message}")
      end

      def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end
  end
end
