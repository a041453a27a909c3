# frozen_string_literal: true

module TaskerCore
  # Runs a handler written for the Tasker Rails engine, whose #process takes
  # (task, sequence, step) and may set `step.results` instead of returning them.
  #
  # The objects it passes carry what such handlers read: `task.context`, `task.task_id`,
  # `sequence.find_step_by_name(name).results`, `step.name`, `step.results`, `step.inputs`,
  # `step.attempts`, `step.handler_config`.
  class LegacyHandlerAdapter
    # The task as a Tasker handler sees it.
    LegacyTask = Struct.new(:task_id, :name, :namespace, :version, :context, keyword_init: true)

    # A step as a Tasker handler sees it; handlers may assign `results`.
    LegacyStep = Struct.new(:workflow_step_id, :name, :results, :inputs, :attempts, :retry_limit,
                            :handler_config, keyword_init: true)

    # The step's parents, findable by name.
    class LegacySequence
      # @return [Array<LegacyStep>]
      attr_reader :steps

      # @param steps [Array<LegacyStep>]
      def initialize(steps)
        @steps = steps
      end

      # @param name [String, Symbol]
      # @return [LegacyStep, nil]
      def find_step_by_name(name)
        @steps.find { |s| s.name == name.to_s }
      end
    end

    # Whether `handler` uses the Tasker signature process(task, sequence, step).
    # @param handler [Object]
    # @return [Boolean]
    def self.legacy?(handler)
      handler.method(:process).arity == 3
    end

    # @param handler [Object] a Tasker-style handler instance
    def initialize(handler)
      @handler = handler
    end

    # Runs the handler for `context`; returns what should be stored as results.
    # @param context [TaskerCore::StepContext]
    # @return [Object]
    def call(context)
      task = LegacyTask.new(task_id: context.task_id, name: context.task_name, namespace: context.namespace,
                            version: context.version, context: context.task_context)
      parents = context.parent_results.map { |name, results| LegacyStep.new(name: name, results: results) }
      step = LegacyStep.new(workflow_step_id: context.step_id, name: context.step_name, results: nil,
                            inputs: context.task_context, attempts: context.attempt - 1,
                            retry_limit: context.retry_limit, handler_config: context.handler_config)
      output = @handler.process(task, LegacySequence.new(parents), step)
      if @handler.respond_to?(:process_results) && @handler.method(:process_results).arity.abs == 3
        @handler.process_results(step, output, nil)
      end
      step.results.nil? ? output : step.results
    end
  end
end
