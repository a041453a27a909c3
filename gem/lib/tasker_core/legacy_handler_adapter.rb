# frozen_string_literal: true

module TaskerCore
  # Runs a handler written for the Tasker Rails engine, whose #process takes
  # (task, sequence, step) and may set `step.results` instead of returning them.
  #
  # The objects it passes carry what such handlers read, with Tasker's meanings:
  # - `task`: `id` and `task_id`, `name`, `namespace_name`, `version`, `context` (indifferent
  #   access when ActiveSupport is loaded, as Tasker's HashWithIndifferentAccess);
  # - `sequence`: every step of the task (`steps`, `find_step_by_name`), each with its
  #   current `results`, `status` and `attempts` — the parents from the step's own message,
  #   the rest read from the store the first time a handler asks for them;
  # - `step`: `workflow_step_id`, `name`, `inputs`, `attempts` (runs before this one, as
  #   Tasker counts while a step runs), `results` (assignable), `handler_config`.
  # Tasker counts a run that completed as an attempt; tasker-core counts failures. A
  # completed step in `sequence` therefore shows attempts + 1, as Tasker would.
  class LegacyHandlerAdapter
    # The task as a Tasker handler sees it.
    class TaskView
      # @return [Integer]
      attr_reader :task_id
      # @return [String]
      attr_reader :name, :namespace_name, :version
      # @return [Hash] the task's context (indifferent access where ActiveSupport is loaded)
      attr_reader :context
      alias id task_id
      alias namespace namespace_name

      # @param task_id [Integer, nil] nil before the task is stored
      # @param name [String]
      # @param namespace [String]
      # @param version [String]
      # @param context [Hash]
      def initialize(task_id:, name:, namespace:, version:, context:)
        @task_id = task_id
        @name = name
        @namespace_name = namespace
        @version = version
        @context = LegacyHandlerAdapter.indifferent(context)
      end

      # The task of a running step.
      # @param context [TaskerCore::StepContext]
      # @return [TaskView]
      def self.of_step(context)
        new(task_id: context.task_id, name: context.task_name, namespace: context.namespace,
            version: context.version, context: context.task_context)
      end
    end

    # A step as a Tasker handler sees it; handlers may assign `results`.
    class StepView
      # @return [Object] the step's results; assign to store them
      attr_accessor :results
      # @return [Integer, nil]
      attr_reader :workflow_step_id, :task_id
      # @return [String]
      attr_reader :name
      # @return [String] pending, in_progress, complete, error, ...
      attr_reader :status
      # @return [Integer]
      attr_reader :attempts, :retry_limit
      # @return [Hash, nil]
      attr_reader :inputs, :handler_config
      alias id workflow_step_id
      alias current_state status

      # @param fields [Hash]
      def initialize(workflow_step_id:, task_id:, name:, status:, results:, attempts:, retry_limit: nil,
                     inputs: nil, handler_config: nil)
        @workflow_step_id = workflow_step_id
        @task_id = task_id
        @name = name
        @status = status
        @results = results
        @attempts = attempts
        @retry_limit = retry_limit
        @inputs = inputs
        @handler_config = handler_config
      end
    end

    # Every step of the task, findable by name. The step's parents and the step itself are
    # known at once; the others are read from the store when first asked for (after the
    # engine's pending writes commit, so finished steps show their results).
    class Sequence
      include Enumerable

      # @param known [Array<StepView>] the parents and the running step
      # @param loader [#call] returns the task as stored (`Native::Engine#task`)
      def initialize(known, loader)
        @known = known.to_h { |s| [s.name, s] }
        @loader = loader
      end

      # @return [Array<StepView>] every step of the task
      def steps
        @steps ||= load
      end

      # @yieldparam step [StepView]
      def each(&block) = steps.each(&block)

      # @param name [String, Symbol]
      # @return [StepView, nil]
      def find_step_by_name(name)
        @known[name.to_s] || steps.find { |s| s.name == name.to_s }
      end

      private

      def load
        stored = @loader.call
        return @known.values unless stored

        stored["steps"].map do |row|
          @known[row["name"]] || StepView.new(
            workflow_step_id: row["step_id"], task_id: row["task_id"], name: row["name"], status: row["state"],
            results: LegacyHandlerAdapter.indifferent(row["results"]), retry_limit: row["retry_limit"],
            attempts: row["attempts"].to_i + (row["state"] == "complete" ? 1 : 0)
          )
        end
      end
    end

    # `hash` with indifferent access when ActiveSupport is loaded (Tasker's handlers read
    # `context[:order_id]` and `context["order_id"]` alike); other values unchanged.
    # @param value [Object]
    # @return [Object]
    def self.indifferent(value)
      return value unless value.is_a?(Hash) && defined?(::ActiveSupport::HashWithIndifferentAccess)

      ::ActiveSupport::HashWithIndifferentAccess.new(value)
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
      task = TaskView.of_step(context)
      parents = context.parent_results.map do |name, results|
        StepView.new(workflow_step_id: nil, task_id: context.task_id, name: name, status: "complete",
                     results: self.class.indifferent(results), attempts: 1)
      end
      step = StepView.new(workflow_step_id: context.step_id, task_id: context.task_id, name: context.step_name,
                          status: "in_progress", results: nil, inputs: task.context,
                          attempts: context.attempt - 1, retry_limit: context.retry_limit,
                          handler_config: context.handler_config)
      sequence = Sequence.new(parents + [step], -> { context.stored_task })
      run(task, sequence, step, context)
    end

    private

    def run(task, sequence, step, context)
      @handler.instance_variable_set(:@tasker_step_context, context)
      if @handler.respond_to?(:handle) && tasker_base?
        output = @handler.handle(task, sequence, step)
      else
        output = @handler.process(task, sequence, step)
        @handler.process_results(step, output, nil) if process_results?
      end
      step.results.nil? ? output : step.results
    end

    def tasker_base?
      defined?(::Tasker::StepHandler::Base) && @handler.is_a?(::Tasker::StepHandler::Base)
    end

    def process_results?
      @handler.respond_to?(:process_results) && @handler.method(:process_results).arity.abs == 3
    end
  end
end
