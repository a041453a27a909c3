# frozen_string_literal: true

module TaskerCore
  # What a step handler's #process receives: the step, its task's context, its
  # handler_config and its parents' results. JSON fields are converted from Rust on first use.
  class StepContext
    # @param ready [TaskerCore::Native::ReadyStep]
    # @param native [TaskerCore::Native::Engine] used to publish custom events
    # @param deadline [Float, nil] monotonic time at which this attempt times out
    #   (positional: made once per step, and keywords through Class#new build a Hash each
    #   time)
    def initialize(ready, native, deadline = nil)
      @ready = ready
      @native = native
      @deadline = deadline
    end

    # When this attempt times out, as a monotonic clock reading
    # (`Process.clock_gettime(Process::CLOCK_MONOTONIC)`), or nil when the step has no
    # timeout. At that time the engine fails the attempt with {TimeoutError} and a thread
    # worker's handler is interrupted (Thread#raise); a handler that must clean up can watch
    # {#cancelled?} or {#time_left} and stop on its own first.
    # @return [Float, nil]
    attr_reader :deadline

    # Seconds this attempt has left before it times out (never negative), or nil when the
    # step has no timeout.
    # @return [Float, nil]
    def time_left
      return nil unless @deadline

      [@deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC), 0.0].max
    end

    # Whether this attempt has run past its timeout: the engine no longer waits for it, and
    # whatever it reports now is ignored.
    # @return [Boolean]
    def cancelled?
      !@deadline.nil? && Process.clock_gettime(Process::CLOCK_MONOTONIC) >= @deadline
    end

    # Seconds this attempt may run in all (the step's, its template's or the engine's
    # timeout), or nil.
    # @return [Float, nil]
    def timeout = @ready.timeout

    # @return [Integer]
    def task_id = @ready.task_id

    # The step's input: its task's context (the plan's `context.input_data`).
    # @return [Hash]
    def input_data = task_context

    # The task as stored (a Hash, as `Native::Engine#task`), read once this engine's
    # pending writes have committed, so steps that finished show their results. For
    # handlers that look beyond their parents (Tasker's `sequence`); costs a store read.
    # @return [Hash, nil]
    def stored_task
      begin
        # Committed is enough (readable); waiting for durability would cost a WAL flush.
        @native.commit_pending(5)
      rescue TaskerCore::Error
        nil # stopping: what is committed is what there is
      end
      @native.task(task_id)
    end

    # @return [Integer]
    def step_id = @ready.step_id

    # @return [String]
    def step_name = @ready.name

    # @return [String] the handler class named by the template
    def handler_class = @ready.handler_class

    # @return [Integer] 1 for the first run, 2 for the first retry, ...
    def attempt = @ready.attempt

    # @return [Integer]
    def retry_limit = @ready.retry_limit

    # @return [String] the task template's name
    def task_name = @ready.task_name

    # @return [String]
    def namespace = @ready.namespace

    # @return [String]
    def version = @ready.version

    # The task's context (String keys).
    # @return [Hash]
    def task_context
      @task_context ||= @ready.task_context
    end
    alias input_data task_context

    # The step's handler_config from the template (String keys; empty when none).
    # @return [Hash]
    def handler_config
      @handler_config ||= @ready.handler_config
    end

    # Results of the step's parents, by step name.
    # @return [Hash{String => Object}]
    def parent_results
      @parent_results ||= @ready.parent_results
    end
    alias dependency_results parent_results

    # Results of one parent step.
    # @param step_name [String, Symbol]
    # @return [Object, nil]
    def results_of(step_name)
      parent_results[step_name.to_s]
    end

    # Publishes a custom event (checked against the template's custom_events when given).
    # @param name [String]
    # @param payload [Hash]
    # @return [void]
    def publish_event(name, payload = {})
      @native.publish_event(step_id, name.to_s, payload)
    rescue EncodingError => e
      raise Inputs.explain_encoding(e, "event name" => name.to_s)
    end

    # @return [TaskerCore::TaskContext]
    def task
      TaskContext.new(task_id: task_id, name: task_name, namespace: namespace, version: version, context: task_context)
    end
  end
end
