# frozen_string_literal: true

module TaskerCore
  # A task as stored: read-only inspection plus the safe manual operations.
  #
  #   task = TaskerCore::Task.find(42)
  #   task.current_state                         # => "error"
  #   task.state_history.map(&:state)            # => ["in_progress", "error"]
  #   task.steps.find_by(name: "charge_card").reset_for_retry!(reason: "gateway fixed")
  #
  # `…!` methods check the task's state, refuse when someone changed the task since this
  # object was read (ConcurrentModificationError), append a transition recording the
  # operation and reason, and return the task as it now is.
  class Task
    # The steps of a task, findable by name or id.
    class Steps
      include Enumerable

      # @param steps [Array<Step>]
      def initialize(steps)
        @steps = steps
      end

      # @yieldparam step [Step]
      def each(&block) = @steps.each(&block)

      # @param name [String, Symbol, nil]
      # @param step_id [Integer, nil]
      # @return [Step, nil]
      def find_by(name: nil, step_id: nil)
        @steps.find { |s| (name.nil? || s.name == name.to_s) && (step_id.nil? || s.step_id == step_id) }
      end

      # @return [Integer]
      def size = @steps.size
      alias count size
      alias length size

      # @param index [Integer]
      # @return [Step]
      def [](index) = @steps[index]
    end

    # @return [TaskerCore::Engine]
    attr_reader :engine
    # @return [Integer]
    attr_reader :task_id
    # @return [String]
    attr_reader :name, :namespace, :version
    # @return [Hash]
    attr_reader :context
    # @return [Time]
    attr_reader :created_at, :updated_at
    # @return [Array<Transition>] oldest first
    attr_reader :state_transitions
    # @return [Steps]
    attr_reader :steps

    # Reads a task from the process-wide engine's store (or `engine`'s).
    # @param task_id [Integer]
    # @param engine [TaskerCore::Engine]
    # @return [Task]
    # @raise [ValidationError] when there is no such task
    def self.find(task_id, engine: TaskerCore.engine)
      raise OrchestrationError, "TaskerCore is not started; call TaskerCore.start" unless engine

      engine.task(task_id)
    end

    # @param engine [TaskerCore::Engine]
    # @param row [Hash] from `Native::Engine#task`
    def initialize(engine, row)
      @engine = engine
      @row = row
      @task_id = row["task_id"]
      @name = row["name"]
      @namespace = row["namespace"]
      @version = row["version"]
      @context = row["context"]
      @created_at = row["created_at"]
      @updated_at = row["updated_at"]
      @state_transitions = row["transitions"].map { |t| Transition.new(t) }
      @steps = Steps.new(row["steps"].map { |s| Step.new(self, s) })
    end

    # @return [String]
    def current_state = @row["state"]

    # A one-line summary; the default would print the engine and every step and transition.
    # @return [String]
    def inspect
      "#<#{self.class.name} #{task_id} #{namespace}/#{name}@#{version} #{current_state}, #{steps.count} steps>"
    end

    Step::STATES.each do |state|
      # @return [Boolean]
      define_method(:"#{state}?") { current_state == state }
    end
    alias failed? error?

    # The states this task went through, oldest first.
    # @return [Array<Transition>]
    def state_history = state_transitions

    # @return [String, nil]
    def initiator = @row["initiator"]

    # @return [String, nil]
    def source_system = @row["source_system"]

    # @return [String, nil]
    def reason = @row["reason"]

    # A fresh copy read from the store.
    # @return [Task]
    def reload = engine.task(task_id)

    # → cancelled, with every unfinished step.
    # @return [Task]
    def cancel!(reason: nil) = operate("cancel", reason)

    # error → pending → in_progress: failed steps go back to pending with attempts at 0.
    # @return [Task]
    def retry!(reason: nil) = operate("retry", reason)

    # error → resolved_manually.
    # @return [Task]
    def resolve_manually!(reason: nil) = operate("resolve_manually", reason)

    # The sort_key of the newest transition this object has seen (0: none).
    # @return [Integer]
    def history_head = state_transitions.last&.sort_key || 0

    # The shape of this task's workflow (cycles, roots, leaves, levels, topology).
    # @return [TemplateGraphAnalyzer]
    def template_graph_analyzer = TemplateGraphAnalyzer.new(graph)

    # Each step's parents by name: `{"step_a" => [], "step_b" => ["step_a"]}`.
    # @return [Hash{String => Array<String>}]
    def template_dependency_graph = graph.dependency_graph

    # Critical paths, parallelism, error chains and bottlenecks of this task.
    # @return [RuntimeGraphAnalyzer]
    def runtime_graph_analyzer = RuntimeGraphAnalyzer.new(graph)

    # Each step's parents by id: `{123 => [], 124 => [123]}`.
    # @return [Hash{Integer => Array<Integer>}]
    def runtime_dependency_graph = graph.runtime_dependency_graph

    # @return [String] a Mermaid flowchart of the steps, coloured by state
    def to_mermaid = graph.to_mermaid

    # @return [String] a Graphviz digraph of the steps, coloured by state
    def to_dot = graph.to_dot

    # Laid out in Rust, no Graphviz needed; failed steps and the edges into them are marked.
    # @return [String] an SVG document of the steps, coloured by state
    def to_svg = graph.to_svg

    # The task's graph in Rust, read from the store the first time it is needed (so it may
    # be newer than this object's own reading; {#reload} starts over).
    # @return [Native::TaskGraph]
    def graph
      @graph ||= engine.native.task_graph(task_id) ||
                 raise(ValidationError, "task #{task_id}: no such task in this engine's store")
    end

    private

    # Runs the operation, then brings this object up to date and returns it.
    def operate(operation, reason)
      reason = Inputs.label(reason, "reason")
      engine.native.operate(task_id, operation, Native::OperateOptions.new(nil, nil, reason, history_head, 30))
      @graph = nil
      initialize(engine, engine.task_hash(task_id))
      self
    end
  end
end
