# frozen_string_literal: true

module TaskerCore
  # Receives the engine's events that match its patterns, on a dispatcher thread of its own
  # (see {EventPublisher}). Two shapes:
  #
  #   # a block
  #   engine.events.subscribe(TaskerCore::EventSubscriber.new("step.*") { |event| … })
  #
  #   # a class: handle_<name with dots as underscores> per event it cares about
  #   class OrderMetrics < TaskerCore::EventSubscriber
  #     subscribe_to "task.completed", "step.failed"
  #     def handle_task_completed(event) = Metrics.increment("orders", event.context)
  #     def handle_step_failed(event) = Metrics.increment("failures")
  #   end
  #
  # Patterns: "*" (everything), "step.*" (a family), "task.completed" (one name). A
  # subscriber's buffer holds `capacity` events; when it is full (the subscriber is slower
  # than the engine), `overflow` decides what is lost — :drop_newest (default) or
  # :drop_oldest — and the subscriber then receives a gap event ({Event::GAP}, handled by
  # {#handle_events_missed}) counting what it missed. The engine never waits for it.
  class EventSubscriber
    DEFAULT_CAPACITY = 65_536
    # A larger buffer is taken for a mistake; the engine allocates it up front.
    MAX_CAPACITY = 16_777_216 # benches/events.rb uses 1,000,000
    # The overflow policies the engine knows.
    OVERFLOWS = %w[drop_newest drop_oldest].freeze

    class << self
      # Patterns instances of this class subscribe to.
      # @param patterns [Array<String>]
      # @return [void]
      def subscribe_to(*patterns)
        @patterns = patterns.flatten.map(&:to_s).freeze
      end

      # @return [Array<String>] the patterns set with {.subscribe_to} (inherited), or ["*"]
      def patterns
        @patterns || (superclass.respond_to?(:patterns) ? superclass.patterns : ["*"])
      end
    end

    # @return [Array<String>]
    attr_reader :patterns
    # @return [Integer] events buffered before overflow applies
    attr_reader :capacity
    # @return [Symbol] :drop_newest or :drop_oldest
    attr_reader :overflow
    # @return [Logger, nil] set by the publisher that delivers to this subscriber
    attr_accessor :logger

    # @param patterns [Array<String>] default: the class's {.subscribe_to}, else "*"
    # @param capacity [Integer]
    # @param overflow [Symbol] :drop_newest or :drop_oldest
    # @param name [String, nil] shown in stats and logs (default: the class name)
    # @yieldparam event [Event] when given, the block receives every event (gaps included)
    def initialize(*patterns, capacity: DEFAULT_CAPACITY, overflow: :drop_newest, name: nil, &block)
      @patterns = (patterns.empty? ? self.class.patterns : patterns.flatten.map { |p| Inputs.name(p.to_s, "event pattern") }).freeze
      unless capacity.is_a?(Integer) && capacity.between?(1, MAX_CAPACITY)
        raise ValidationError, "event subscriber: capacity must be an Integer from 1 to #{MAX_CAPACITY}, got #{capacity.inspect[0, 80]}"
      end
      unless OVERFLOWS.include?(overflow.to_s)
        raise ValidationError, "event subscriber: overflow: expected drop_newest or drop_oldest, got #{overflow.inspect[0, 80]}"
      end

      @capacity = capacity
      @overflow = overflow.to_s.to_sym
      @name = name
      @block = block
      @handler_methods = {}
    end

    # @return [String]
    def name
      @name || self.class.name || "anonymous subscriber"
    end

    # What the dispatcher calls per event: the block itself when one was given (one call
    # less per event), else {#call}.
    # @return [#call]
    def handler
      @block || method(:call)
    end

    # Handles one event: the block when one was given, else `handle_<name>` when defined
    # (e.g. handle_step_completed; gaps go to {#handle_events_missed}). Override for
    # anything else.
    # @param event [Event]
    # @return [void]
    def call(event)
      return @block.call(event) if @block

      method = @handler_methods[event.name] ||= handler_method_for(event.name)
      public_send(method, event) if method != :none
    end

    # Called with a gap event when events were lost to a full buffer; logs a warning.
    # @param event [Event] its #missed is the count
    # @return [void]
    def handle_events_missed(event)
      message = "tasker-core: event subscriber #{name} missed #{event.missed} events (its buffer was full)"
      logger ? logger.warn(message) : warn(message)
    end

    private

    def handler_method_for(event_name)
      method = event_name == Event::GAP ? :handle_events_missed : :"handle_#{event_name.tr('.', '_')}"
      respond_to?(method) ? method : :none
    end
  end
end
