# frozen_string_literal: true

require_relative "../log_subscriber"

module TaskerCore
  module Rails
    # Writes the engine's notable events to the Rails log, the way ActiveRecord logs SQL:
    #
    #   tasker-core: task 42 (shop/fulfil_order) complete
    #   tasker-core: step 97 charge_card of task 42 failed (attempt 1): Gateway::Busy: try later
    #
    # Only failures and task endings: ActiveSupport builds an event's payload only when
    # someone listens to it, so a subscriber for every step.completed would cost every step.
    class LogSubscriber < TaskerCore::LogSubscriber
      # @param event [ActiveSupport::Notifications::Event]
      # @return [void]
      def task_completed(event)
        info { "tasker-core: task #{event.payload[:task_id]} (#{task_name(event)}) complete" }
      end

      # @param event [ActiveSupport::Notifications::Event]
      # @return [void]
      def task_failed(event)
        error { "tasker-core: task #{event.payload[:task_id]} (#{task_name(event)}) failed" }
      end

      # @param event [ActiveSupport::Notifications::Event]
      # @return [void]
      def step_failed(event)
        step = event.payload
        warn do
          "tasker-core: step #{step[:step_id]} #{step[:step_name]} of task #{step[:task_id]} failed " \
            "(attempt #{step[:attempt]}): #{step[:error_class]}: #{step[:error_message]}"
        end
      end

      # Log lines go to tasker-core's logger (config.tasker_core.logger, else Rails.logger).
      # @return [Logger, nil]
      def logger
        TaskerCore::Rails.logger
      end

      private

      def task_name(event)
        [event.payload[:namespace], event.payload[:task_name]].compact.join("/")
      end
    end
  end
end
