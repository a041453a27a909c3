# frozen_string_literal: true

module TaskerCore
  # Re-publishes every event through ActiveSupport::Notifications, once, as
  # "<event name>.tasker_core" (e.g. "step.completed.tasker_core"), so Rails subscribers see
  # them. {Engine.start} subscribes it when ActiveSupport::Notifications is loaded
  # (`instrument: :auto`).
  #
  #   ActiveSupport::Notifications.subscribe("task.completed.tasker_core") do |*, payload|
  #     Rails.logger.info("task #{payload[:task_id]} done")
  #   end
  #
  # Log subscribers subclass {TaskerCore::LogSubscriber}, which maps a method such as
  # `step_failed` to the dotted name (ActiveSupport's own LogSubscriber would look for
  # "step_failed.tasker_core"):
  #
  #   class TaskerLog < TaskerCore::LogSubscriber
  #     def step_failed(event) = error("step #{event.payload[:step_name]} failed")
  #   end
  #   TaskerLog.attach_to :tasker_core
  #
  # The payload is the event's context with Symbol keys, plus :event (the {Event}) and
  # :occurred_at. Events nobody listens to are skipped before any payload is built.
  class ActiveSupportBridge < EventSubscriber
    # Appended to each event name.
    NAMESPACE = "tasker_core"

    # @param capacity [Integer]
    def initialize(capacity: DEFAULT_CAPACITY)
      super("*", capacity: capacity, name: "ActiveSupport::Notifications")
      @names = {}
    end

    # Instruments one event.
    # @param event [Event]
    # @return [void]
    def call(event)
      name = @names[event.name] ||= "#{event.name}.#{NAMESPACE}".freeze
      return unless ActiveSupport::Notifications.notifier.listening?(name)

      ActiveSupport::Notifications.instrument(name, payload_for(event))
    end

    private

    def payload_for(event)
      payload = event.context.transform_keys(&:to_sym)
      payload[:event] = event
      payload[:occurred_at] = event.occurred_at
      payload
    end

    # @return [Boolean] whether ActiveSupport::Notifications is loaded
    def self.available?
      defined?(ActiveSupport::Notifications) ? true : false
    end
  end
end
