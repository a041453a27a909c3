# frozen_string_literal: true

module TaskerCore
  # Turns a template's handler_class name into something that runs a step.
  #
  # Classes are looked up on every step by default so code reloading (Rails) picks up
  # edits; `cache: true` keeps the first lookup. A handler is instantiated per step, so
  # handlers need not be thread-safe.
  class HandlerResolver
    # @param cache [Boolean] keep classes after the first lookup
    # @param lookup [#call, nil] custom name → class lookup (e.g. Rails' constantize)
    def initialize(cache: true, lookup: nil)
      @cache = cache ? {} : nil
      # Class → whether its constructor takes `config:` (asked once per class, not per step).
      @takes_config = {}.compare_by_identity
      @lookup = lookup || ->(name) { Object.const_get(name) }
      @mutex = Mutex.new
    end

    # A callable that runs the step described by `context`.
    # @param context [TaskerCore::StepContext]
    # @return [#call] takes the context, returns the results to store
    def runner_for(context)
      klass = handler_class(context.handler_class)
      # Tasker's handlers are built with their step's handler_config (`new(config:)`).
      handler = takes_config?(klass) ? klass.new(config: context.handler_config) : klass.new
      if LegacyHandlerAdapter.legacy?(handler)
        LegacyHandlerAdapter.new(handler)
      else
        ModernRunner.new(handler)
      end
    end

    # The class named `name`.
    # @param name [String]
    # @return [Class]
    # @raise [HandlerNotFoundError]
    def handler_class(name)
      if @cache
        found = @cache[name]
        return found if found
      end
      klass = begin
        @lookup.call(name)
      rescue NameError => e
        raise HandlerNotFoundError, "handler class #{name} not found (#{e.message})"
      end
      raise HandlerNotFoundError, "handler #{name} is not a class" unless klass.is_a?(Class)

      @mutex.synchronize { @cache[name] = klass } if @cache
      klass
    end

    # Whether `klass.new` takes a `config:` keyword (Tasker::StepHandler::Base does).
    # @param klass [Class]
    # @return [Boolean]
    def takes_config?(klass)
      found = @takes_config[klass]
      return found unless found.nil?

      @takes_config[klass] =
        klass.instance_method(:initialize).parameters.any? { |kind, name| name == :config && %i[key keyreq].include?(kind) }
    end

    # Runs a TaskerCore::BaseStepHandler-shaped handler: #process(context), then
    # #process_results(context, output, nil).
    class ModernRunner
      # @param handler [Object]
      def initialize(handler)
        @handler = handler
      end

      # @param context [TaskerCore::StepContext]
      # @return [Object]
      def call(context)
        output = @handler.process(context)
        @handler.respond_to?(:process_results) ? @handler.process_results(context, output, nil) : output
      end
    end
  end
end
