# frozen_string_literal: true

module TaskerCore
  # One lifecycle or custom event, as a subscriber receives it. The class is defined by the
  # native extension (each event is a small object over the engine's shared copy); this file
  # adds the Ruby side. The context Hash is built the first time it is read.
  #
  # A subscriber whose buffer overflowed also receives one event named {GAP}
  # ("tasker_core.events_missed") whose {#missed} says how many events it lost there.
  #
  # Native readers: #name (frozen String), #task_id, #step_id (Integer or nil),
  # #occurred_at (Time, UTC), #occurred_at_us (Integer µs since the epoch), #missed.
  class Event
    # The event's JSON context: task_id, step_id, step_name, task_name, namespace, attempt,
    # duration_ms, error_class, error_message where they apply, and a custom event's payload.
    # @return [Hash]
    def context
      @context ||= build_context
    end

    # @return [Boolean] whether this event reports lost events rather than a transition
    def gap?
      missed.positive?
    end

    # @return [Hash{Symbol => Object}]
    def to_h
      { name: name, task_id: task_id, step_id: step_id, occurred_at: occurred_at, context: context }
    end

    # @return [String]
    def inspect
      "#<TaskerCore::Event #{name} task=#{task_id.inspect} step=#{step_id.inspect}>"
    end
  end
end
