# frozen_string_literal: true

module TaskerCore
  # Base class of step handlers. Subclasses implement #process; the value it returns is
  # stored as the step's results (after #process_results, if overridden).
  #
  #   class Shop::ChargeCard < TaskerCore::BaseStepHandler
  #     def process(context)
  #       charge = Payments.charge(context.task_context["order_id"])
  #       raise TaskerCore::RetryableError.new("gateway busy", retry_after: 5) if charge.busy?
  #       { "charge_id" => charge.id }
  #     end
  #   end
  class BaseStepHandler
    EXECUTIONS = %i[thread ractor].freeze

    # Where this handler's steps run when the template's step does not say (`execution:`):
    # `execution :ractor` in the class body. A step's own `execution:` wins; this wins over
    # the template's default. Read when a template is registered, so the class must be
    # loadable then. Subclasses inherit it.
    #
    #   class Checksum < TaskerCore::BaseStepHandler
    #     execution :ractor
    #   end
    # @param kind [Symbol, String, nil] :thread or :ractor; nil reads the declaration
    # @return [Symbol, nil] the declaration (nil: none, the template decides)
    # @raise [ValidationError] for anything but :thread or :ractor
    def self.execution(kind = nil)
      if kind.nil?
        return @execution if instance_variable_defined?(:@execution)

        return superclass.respond_to?(:execution) ? superclass.execution : nil
      end
      unless EXECUTIONS.include?(kind.to_s.to_sym)
        raise ValidationError, "#{name}.execution: must be :thread or :ractor, got #{kind.inspect}"
      end

      @execution = kind.to_s.to_sym
    end

    # The step's business logic.
    # @param context [TaskerCore::StepContext]
    # @return [Object] JSON-compatible results
    def process(context)
      raise NotImplementedError, "#{self.class.name}#process(context) is not implemented"
    end

    # Shapes what is stored as the step's results; returns `output` unchanged by default.
    # @param context [TaskerCore::StepContext]
    # @param output [Object] what #process returned
    # @param initial_results [Object, nil] results stored before this run, if any
    # @return [Object]
    def process_results(context, output, initial_results = nil)
      output
    end
  end

  # The plan's name for the step handler interface ("Ruby trait equivalent for step
  # handlers"): the same class, so either name may be subclassed.
  RubyStepHandler = BaseStepHandler
end
