# frozen_string_literal: true

require "active_support/log_subscriber"

module TaskerCore
  # The base class for ActiveSupport log subscribers of tasker-core's events.
  #
  # Each engine event is instrumented once, under its own dotted name in the `tasker_core`
  # namespace ("step.failed.tasker_core"; see {ActiveSupportBridge}). ActiveSupport's
  # LogSubscriber cannot reach such names: it subscribes a method `step_failed` to
  # "step_failed.tasker_core" and calls the method named by the part before the first dot.
  # This class maps both ways instead of publishing every event a second time: a method
  # subscribes to its event's dotted name (each underscore may stand for a dot, so custom
  # events such as "shop.payment_captured" → `shop_payment_captured` work too), and an event
  # calls the method named by its name with dots as underscores.
  #
  #   class TaskerLog < TaskerCore::LogSubscriber
  #     def step_failed(event) = warn("step #{event.payload[:step_name]} failed")
  #     def task_completed(event) = info("task #{event.payload[:task_id]} done")
  #   end
  #   TaskerLog.attach_to :tasker_core
  class LogSubscriber < ActiveSupport::LogSubscriber
    class << self
      private

      # The event names a method answers to: "step_failed" → /\Astep[._]failed\.tasker_core\z/.
      def prepare_pattern(event)
        words = event.to_s.split("_").map { |w| Regexp.escape(w) }
        /\A#{words.join('[._]')}\.#{Regexp.escape(namespace.to_s)}\z/
      end
    end

    # Calls the method named after the event ("step.failed.tasker_core" → #step_failed).
    # @param name [String]
    # @param id [String]
    # @param payload [Hash]
    # @return [void]
    def finish(name, id, payload)
      event, namespace = name.split(/\.(?=[^.]+\z)/, 2)
      super("#{event.tr('.', '_')}.#{namespace}", id, payload)
    end
  end
end
