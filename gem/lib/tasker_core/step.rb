# frozen_string_literal: true

module TaskerCore
  # A workflow step as stored: read-only inspection plus the safe manual operations.
  #
  #   step = task.steps.find_by(name: "charge_card")
  #   step.reset_for_retry!(new_retry_limit: 5, reason: "gateway fixed") if step.failed?
  #
  # Each `…!` method checks the step's state (StateTransitionError naming the current and
  # the allowed states), refuses if someone changed the step since this object was read
  # (ConcurrentModificationError; reload and retry), appends a transition recording the
  # operation and the reason, and returns the step as it now is.
  class Step
    STATES = %w[pending in_progress complete error cancelled resolved_manually].freeze

    # @return [TaskerCore::Task]
    attr_reader :task
    # @return [Integer]
    attr_reader :step_id
    # @return [String]
    attr_reader :name
    # @return [Integer] failed attempts so far
    attr_reader :attempts
    # @return [Integer]
    attr_reader :retry_limit
    # @return [Object, nil]
    attr_reader :results
    # @return [Time]
    attr_reader :created_at, :updated_at
    # @return [Array<Transition>] oldest first
    attr_reader :state_transitions

    # @param task [TaskerCore::Task]
    # @param row [Hash] a step Hash from `Native::Engine#task`
    def initialize(task, row)
      @task = task
      @row = row
      @step_id = row["step_id"]
      @name = row["name"]
      @attempts = row["attempts"] || 0
      @retry_limit = row["retry_limit"]
      @results = row["results"]
      @created_at = row["created_at"]
      @updated_at = row["updated_at"]
      @state_transitions = row["transitions"].map { |t| Transition.new(t) }
    end

    # @return [String] one of {STATES}
    def current_state = @row["state"]

    # A one-line summary; the default would print the whole task and engine this step holds
    # (Ruby 3.1 puts it in every NoMethodError's message).
    # @return [String]
    def inspect
      "#<#{self.class.name} #{step_id} #{name} of task #{task.task_id} #{current_state}, " \
        "attempts #{attempts}, retry_limit #{retry_limit.inspect}>"
    end

    STATES.each do |state|
      # @return [Boolean]
      define_method(:"#{state}?") { current_state == state }
    end
    alias failed? error?

    # @return [Boolean] whether the engine will retry it after a failure
    def retryable? = @row["retryable"]

    # @return [Boolean] handed to a worker right now
    def in_process? = @row["in_process"]

    # @return [Boolean] completed (its results are final)
    def processed? = @row["processed"]

    # @return [Time, nil]
    def last_attempted_at = @row["last_attempted_at"]

    # Seconds after `last_attempted_at` before the step may run again (a handler's retry
    # request, or a task's `run_at`, see {Schedules}).
    # @return [Integer, nil]
    def backoff_request_seconds = @row["backoff_request_seconds"]

    # When the step last failed.
    # @return [Time, nil]
    def last_failure_at
      state_transitions.reverse.find { |t| t.to_state == "error" }&.created_at
    end

    # The states this step went through, oldest first.
    # @return [Array<Transition>]
    def state_history = state_transitions

    # Ids of the steps this one depends on.
    # @return [Array<Integer>]
    def parent_ids = @row["parent_ids"]

    # The steps this one depends on.
    # @return [Array<Step>]
    def parents = task.steps.select { |s| parent_ids.include?(s.step_id) }

    # Whether every parent is complete or resolved manually.
    # @return [Boolean]
    def dependencies_satisfied?
      parents.all? { |p| p.complete? || p.resolved_manually? }
    end

    # The parents that are not complete or resolved manually: what this step waits for.
    # @return [Array<Step>]
    def blocking_dependencies
      parents.reject { |p| p.complete? || p.resolved_manually? }
    end

    # Every step downstream of this one (children, their children, …): what waits on it.
    # @return [Hash] `{steps: [names], count:}`
    def downstream_impact = task.graph.downstream_impact(step_id)

    # Runs of the handler, from the history.
    # @return [Array<ExecutionAttempt>]
    def execution_attempts
      ExecutionAttempt.from_history(state_transitions, results)
    end

    # The step as it is stored now.
    # @return [Step]
    def reload = task.reload.steps.find_by(step_id: step_id)

    # error → pending with attempts back to 0 (and a new retry limit when given); a task
    # that had failed resumes. Like every operation here, it brings this object up to date.
    # @return [Step] this step, as it now is
    def reset_for_retry!(new_retry_limit: nil, reason: nil)
      operate("reset_for_retry", new_retry_limit, reason)
    end

    # error → pending, attempts kept; a task that had failed resumes.
    # @return [Step]
    def mark_pending!(reason: nil)
      operate("mark_pending", nil, reason)
    end

    # Replaces the results of a step that has run (complete, error or resolved_manually; not
    # while a worker runs it). The edit is recorded as a transition that keeps the state
    # (e.g. complete → complete), so it is audited and a concurrent edit is refused.
    # @param data [Object] JSON-compatible
    # @return [Step]
    def update_results!(data, reason: nil)
      operate("update_results", data, reason)
    end

    # pending or error → resolved_manually (in_progress → complete) with these results; its
    # children may then run.
    # @param results [Object] JSON-compatible
    # @return [Step]
    def mark_completed!(results = nil, reason: nil)
      operate("mark_completed", results, reason)
    end

    # The sort_key of the newest transition this object has seen (0: none).
    # @return [Integer]
    def history_head = state_transitions.last&.sort_key || 0

    private

    # Runs the operation, then brings this object up to date (so `step.update_results!(x)`
    # followed by `step.mark_pending!` works as written) and returns it.
    def operate(operation, payload, reason)
      task.engine.native.operate(task.task_id, operation,
                                 Native::OperateOptions.new(step_id, payload, Inputs.label(reason, "reason"), history_head, 30))
      fresh = task.reload.steps.find_by(step_id: step_id)
      initialize(fresh.task, fresh.instance_variable_get(:@row))
      self
    end
  end
end
