# frozen_string_literal: true

module TaskerCore
  # Re-publishes every event through ActiveSupport::Notifications as
  # "<event name>.tasker_core" (e.g. "step.completed.tasker_core"), so Rails subscribers see
  # them. {Engine.start} subscribes it when ActiveSupport::Notifications is loaded
  # (`instrument: :auto`).
  #
  #   ActiveSupport::Notifications.subscribe("task.completed.tasker_core") do |*, payload|
  #     Rails.logger.info("task #{payload[:task_id]} done")
  #   end
  #
  # ActiveSupport's log subscribers call the method named by the part before the first dot,
  # so each event is also instrumented as "<name with underscores>.tasker_core"
  # ("step_completed.tasker_core") for them:
  #
  #   class TaskerLog < ActiveSupport::LogSubscriber
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
      names = @names[event.name] ||= ["#{event.name}.#{NAMESPACE}", "#{event.name.tr('.', '_')}.#{NAMESPACE}"].uniq.freeze
      notifier = ActiveSupport::Notifications.notifier
      payload = nil
      names.each do |name|
        next unless notifier.listening?(name)

        payload ||= payload_for(event)
        ActiveSupport::Notifications.instrument(name, payload)
      end
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
