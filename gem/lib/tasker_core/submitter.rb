# frozen_string_literal: true

module TaskerCore
  # Submits tasks and reads their outcome, from any thread or any Ractor: a deeply frozen,
  # Ractor-shareable object over the engine's shareable native handle. CPU-heavy producers
  # (importers, parsers, fan-out generators) build contexts in Ractors, in parallel on
  # every core, and submit through it.
  #
  #   submitter = engine.submitter            # or TaskerCore.submitter
  #   workers = 2.times.map do |i|
  #     Ractor.new(submitter, i) do |submitter, i|
  #       ids = rows_for(i).map { |row| submitter.submit_task("import_row", build_context(row), namespace: "imports") }
  #       ids.map { |id| submitter.wait_for_task(id, timeout: 60).state }
  #     end
  #   end
  #
  # `submit_task` validates exactly as {Engine#submit_task} (template, schema, a Hash
  # context) and raises the same errors. It does not run a Tasker task handler's
  # `establish_step_dependencies_and_defaults` hook (that runs Ruby classes of the main
  # Ractor); submit from the main Ractor for templates that rely on it.
  class Submitter
    # How long `durable: true` waits for the commit.
    DEFAULT_DURABLE_TIMEOUT = 10

    # @param native [TaskerCore::Native::Engine] shareable
    def initialize(native)
      @native = native
      Ractor.make_shareable(self)
    end

    # Validates and submits a task; returns its id at once (see {Engine#submit_task}).
    # @param name [String]
    # @param context [Hash]
    # @param durable [Boolean, Numeric] wait (GVL released) until the task is committed
    # @param identity [Symbol, String, Hash, nil] submit once per identity (see {Identity});
    #   the call then waits for the commit and returns the existing task's id for a repeat
    # @param run_at [Time, nil] no step starts before this time (see {Schedules})
    # @param delay [Numeric, nil] or: no step starts before this many seconds from now
    # @return [Integer] the task id
    # @raise [ValidationError] for an unknown template, a context breaking its schema, a non-Hash context
    def submit_task(name, context = {}, namespace: nil, version: nil, initiator: nil, source_system: nil,
                    reason: nil, tags: nil, durable: false, identity: nil, run_at: nil, delay: nil, priority: nil)
      # The common call (at most a namespace and a version) builds no options Struct.
      if initiator.nil? && source_system.nil? && reason.nil? && tags.nil? && !durable && identity.nil? &&
         run_at.nil? && delay.nil? && priority.nil?
        return @native.submit_in(name.to_s, context, namespace&.to_s, version&.to_s)
      end
      unless identity.nil?
        return submit_once(name, context, identity: identity, namespace: namespace, version: version,
                                          initiator: initiator, source_system: source_system, reason: reason,
                                          tags: tags, durable: durable, run_at: run_at, delay: delay,
                                          priority: priority).task_id
      end

      @native.submit(name.to_s, context, Native::SubmitOptions.new(*names(namespace, version), *labels(initiator, source_system, reason),
                                                                   tags, true, durable_timeout(durable),
                                                                   Schedules.run_at(run_at, delay),
                                                                   DispatchGate.priority(priority)))
    rescue EncodingError => e
      # A name that is not UTF-8 text, found by the native layer (a good call pays nothing).
      raise Inputs.explain_encoding(e, "submit_task name" => name, "namespace" => namespace, "version" => version)
    end

    # Submits a task unless one with the same identity exists (see {Engine#submit_once}).
    # Always waits (GVL released) until the task's creation is committed: up to `durable`
    # seconds when a number, else {DEFAULT_DURABLE_TIMEOUT}.
    # @param identity [Symbol, String, Hash] see {Identity}
    # @param priority [Integer, nil] the new task's (see {Engine#submit_task}); a repeat's is ignored
    # @return [Submission] the task id, and whether this call created it
    # @raise [ValidationError] for a bad identity (naming it), template or context
    # @raise [TimeoutError] when the commit took longer (it may still land)
    def submit_once(name, context = {}, identity: :default, namespace: nil, version: nil, initiator: nil,
                    source_system: nil, reason: nil, tags: nil, durable: true, run_at: nil, delay: nil, priority: nil)
      identity = Identity.read(identity)
      timeout = durable.is_a?(Numeric) ? durable : DEFAULT_DURABLE_TIMEOUT
      options = Native::SubmitOptions.new(*names(namespace, version), *labels(initiator, source_system, reason),
                                          tags, true, timeout, Schedules.run_at(run_at, delay),
                                          DispatchGate.priority(priority))
      Submission.new(*@native.submit_identified(name.to_s, context, options, identity))
    rescue EncodingError => e
      raise Inputs.explain_encoding(e, "submit_once name" => name, "namespace" => namespace, "version" => version)
    end

    # Creates a task without starting it (pending), for {WorkflowCoordinator}.
    # @return [Integer] the task id
    def create_task(name, context = {}, namespace: nil, version: nil, initiator: nil, source_system: nil,
                    reason: nil, tags: nil, durable: false, run_at: nil, delay: nil)
      @native.submit(name.to_s, context, Native::SubmitOptions.new(*names(namespace, version), *labels(initiator, source_system, reason),
                                                                   tags, false, durable_timeout(durable),
                                                                   Schedules.run_at(run_at, delay)))
    rescue EncodingError => e
      raise Inputs.explain_encoding(e, "create_task name" => name, "namespace" => namespace, "version" => version)
    end

    # Waits (GVL released; Thread#kill, Timeout and Ctrl-C interrupt it) until the task
    # ends and returns its result; `:reenqueue` when it did not end within `timeout`.
    # @param task_id [Integer]
    # @param timeout [Numeric] seconds
    # @param raise_on_timeout [Boolean]
    # @return [TaskResult]
    # @raise [TimeoutError] when `raise_on_timeout` and the task did not end in time
    def wait_for_task(task_id, timeout: 60, raise_on_timeout: false)
      raise_on_timeout ? @native.await_task(task_id, timeout) : @native.wait_for_task(task_id, timeout)
      task_result(task_id)
    end

    # The task's result as it stands now.
    # @param task_id [Integer]
    # @return [TaskResult]
    # @raise [ValidationError] when there is no such task
    def task_result(task_id)
      summary = @native.task_summary(task_id) || raise(ValidationError, "task #{task_id}: no such task in this engine's store")
      TaskResult.from_h(summary)
    end

    # The task's current state, read cheaply (one indexed read, no steps).
    # @param task_id [Integer]
    # @return [String, nil] "pending", "in_progress", "complete", "error", ...; nil when there is no such task
    def task_state(task_id)
      @native.task_state(task_id)
    end

    private

    # Characters Tasker's tasks table keeps of an initiator, source_system or reason.
    LABEL_MAX = 128

    # namespace and version as UTF-8 Strings (or nil), each refused by name when it is not
    # text (the options Struct would only say "expected a String").
    def names(namespace, version)
      [namespace && Inputs.name(namespace.to_s, "namespace"), version && Inputs.name(version.to_s, "version")]
    end

    # initiator, source_system and reason, checked as the stores will keep them (a value
    # PostgreSQL refuses would otherwise fail a later group commit, not this call).
    def labels(initiator, source_system, reason)
      [Inputs.label(initiator, "initiator", LABEL_MAX), Inputs.label(source_system, "source_system", LABEL_MAX),
       Inputs.label(reason, "reason", LABEL_MAX)]
    end

    def durable_timeout(durable)
      case durable
      when false, nil then nil
      when true then DEFAULT_DURABLE_TIMEOUT
      when Numeric then durable
      else raise ValidationError, "durable: expected true, false or seconds, got #{durable.inspect}"
      end
    end
  end
end
