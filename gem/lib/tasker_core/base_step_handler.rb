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
end
