# frozen_string_literal: true

module TaskerCore
  # Delivers an engine's events to Ruby subscribers ({EventSubscriber}s).
  #
  # Duties:
  # - one native subscription per subscriber (its patterns, buffer and overflow policy), so
  #   a slow subscriber fills only its own buffer and never slows the engine or the others;
  # - one dispatcher thread per subscriber that drains its events in batches, waiting with
  #   the GVL released, and calls the subscriber for each;
  # - a subscriber that raises is logged and counted, and keeps receiving;
  # - stats per subscriber: delivered (into its buffer), dropped (lost to overflow), lag
  #   (waiting in the buffer), handled, errors, gaps.
  #
  # Events arrive once the transitions they describe are committed, in order per task.
  #
  #   engine.events.subscribe(TaskerCore::EventSubscriber.new("task.*") { |e| puts e.name })
  class EventPublisher
    # Events a dispatcher takes per drain.
    BATCH = 1024
    # How long a dispatcher waits per drain before it checks for a stop.
    WAIT = 0.1

    # @return [Logger, nil]
    attr_reader :logger

    # With no engine given (the plan's `TaskerCore::EventPublisher.new`), the process-wide
    # engine's own publisher: its subscribers stop with that engine.
    # @param native [TaskerCore::Native::Engine, nil]
    # @param logger [Logger, nil]
    # @return [EventPublisher]
    # @raise [OrchestrationError] with no engine given and none started
    def self.new(native = nil, logger: nil)
      return super(native, logger: logger) if native

      engine = TaskerCore.engine
      raise OrchestrationError, "EventPublisher.new: no engine is started; call TaskerCore.start first (or use engine.events)" unless engine

      engine.events
    end

    # @param native [TaskerCore::Native::Engine]
    # @param logger [Logger, nil]
    def initialize(native, logger: nil)
      @native = native
      @logger = logger
      @dispatchers = {}
      @lock = Mutex.new
    end

    # Starts delivering to `subscriber` (an {EventSubscriber}, or anything with #call,
    # #patterns, #capacity and #overflow).
    # @param subscriber [EventSubscriber]
    # @return [EventSubscriber] the subscriber
    # @raise [ValidationError] for a bad pattern or overflow policy (nothing subscribed)
    def subscribe(subscriber)
      @lock.synchronize do
        raise ValidationError, "event subscriber #{subscriber_name(subscriber)} is already subscribed" if @dispatchers.key?(subscriber)

        subscription = @native.subscribe(Array(subscriber.patterns).map(&:to_s),
                                         Integer(subscriber.capacity), subscriber.overflow.to_s)
        subscriber.logger ||= @logger if subscriber.respond_to?(:logger=)
        @dispatchers[subscriber] = Dispatcher.new(subscriber, subscription, subscriber_name(subscriber), @logger).start
      end
      subscriber
    end

    # Stops delivering to `subscriber`; events still buffered for it are discarded.
    # @param subscriber [EventSubscriber]
    # @return [Boolean] whether it was subscribed
    def unsubscribe(subscriber)
      dispatcher = @lock.synchronize { @dispatchers.delete(subscriber) }
      return false unless dispatcher

      dispatcher.stop(drain: false)
      true
    end

    # @return [Array<EventSubscriber>]
    def subscribers
      @lock.synchronize { @dispatchers.keys }
    end

    # Counters per subscriber, keyed by its name.
    # @return [Hash{String => Hash{Symbol => Integer}}]
    def stats
      @lock.synchronize { @dispatchers.values.to_h { |d| [d.name, d.stats] } }
    end

    # Stops every dispatcher, after each delivered what its buffer held (up to `timeout`).
    # @param timeout [Numeric] seconds
    # @return [void]
    def stop(timeout: 5)
      dispatchers = @lock.synchronize { @dispatchers.values.tap { @dispatchers.clear } }
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      dispatchers.each { |d| d.stop(drain: true, deadline: deadline) }
    end

    private

    def subscriber_name(subscriber)
      subscriber.respond_to?(:name) ? subscriber.name.to_s : subscriber.class.name.to_s
    end

    # One subscriber's thread and counters.
    class Dispatcher
      attr_reader :name

      def initialize(subscriber, subscription, name, logger)
        @handler = subscriber.respond_to?(:handler) ? subscriber.handler : subscriber
        @subscription = subscription
        @name = name
        @logger = logger
        @handled = 0
        @errors = 0
        @running = true
        @draining = false
      end

      def start
        @thread = Thread.new { run }
        @thread.name = "tasker-events:#{@name}"[0, 60]
        self
      end

      def stats
        { delivered: @subscription.delivered, dropped: @subscription.dropped, lag: @subscription.lag,
          handled: @handled, errors: @errors, gaps: @subscription.gaps }
      end

      # drain: deliver what is buffered first (until the deadline).
      def stop(drain:, deadline: nil)
        @draining = drain
        @running = false
        @subscription.unsubscribe
        remaining = deadline ? [deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC), 0].max : WAIT * 2
        return if @thread.join(remaining + WAIT)

        message = "tasker-core: event subscriber #{@name} was still delivering at the stop deadline; " \
                  "its thread is killed (#{@subscription.lag} event(s) undelivered)"
        @logger ? @logger.warn(message) : warn(message)
        @thread.kill
      end

      private

      def run
        while @running
          deliver(@subscription.next(BATCH, WAIT))
        end
        return unless @draining

        until (batch = @subscription.next(BATCH, 0)).empty?
          deliver(batch)
        end
      end

      def deliver(batch)
        batch.each do |event|
          @handler.call(event)
        rescue StandardError => e
          @errors += 1
          message = "tasker-core: event subscriber #{@name} raised on #{event.name}: #{e.class}: #{e.message}"
          @logger ? @logger.error(message) : warn(message)
        end
        @handled += batch.size
      end
    end
    private_constant :Dispatcher
  end
end
