# frozen_string_literal: true

module TaskerCore
  # Base class of task handlers (a template's `task_handler_class`). A task handler submits
  # its own template's tasks and may shape the context first or react to the outcome.
  #
  #   class Shop::FulfilOrder < TaskerCore::BaseTaskHandler
  #     def initialize_context(context) = context.merge("requested_by" => "web")
  #     def on_failure(result) = Alerts.page("order task #{result.task_id} failed")
  #   end
  #
  #   Shop::FulfilOrder.new(engine).submit("order_id" => 42)
  class BaseTaskHandler
    # @return [TaskerCore::Engine]
    attr_reader :engine

    # @param engine [TaskerCore::Engine] defaults to the process-wide engine
    def initialize(engine = TaskerCore.engine)
      raise OrchestrationError, "#{self.class.name}: no engine (start one with TaskerCore.start)" unless engine

      @engine = engine
    end

    # The registered template whose task_handler_class is this class.
    # @return [Hash] name, namespace, version, steps, ...
    def template
      @template ||= engine.templates.find { |t| t["task_handler_class"] == self.class.name } ||
                    raise(ValidationError, "#{self.class.name}: no registered template names it as task_handler_class")
    end

    # Hook: returns the context to submit; the given one by default.
    # @param context [Hash]
    # @return [Hash]
    def initialize_context(context)
      context
    end

    # Hook: called by #execute when the task completed.
    # @param result [TaskerCore::TaskResult]
    # @return [void]
    def on_complete(result); end

    # Hook: called by #execute when the task ended in error.
    # @param result [TaskerCore::TaskResult]
    # @return [void]
    def on_failure(result); end

    # Submits a task of this handler's template; returns its id at once.
    # @param context [Hash]
    # @return [Integer]
    def submit(context = {}, **options)
      engine.submit_task(template["name"], initialize_context(context),
                         namespace: template["namespace"], version: template["version"], **options)
    end

    # Submits a task, waits for it to end, calls the outcome hook and returns the result.
    # @param context [Hash]
    # @param timeout [Numeric] seconds
    # @return [TaskerCore::TaskResult]
    def execute(context = {}, timeout: 60, **options)
      result = engine.wait_for_task(submit(context, **options), timeout: timeout)
      result.complete? ? on_complete(result) : on_failure(result)
      result
    end
  end

  # The plan's name for the task handler interface ("Ruby trait equivalent for task
  # handlers"): the same class, so either name may be subclassed.
  RubyTaskHandler = BaseTaskHandler
end
