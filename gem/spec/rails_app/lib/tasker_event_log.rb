# frozen_string_literal: true

# Names of the tasker-core events each task went through, as ActiveSupport notifications
# delivered them (config/initializers/tasker_core.rb subscribes it).
module TaskerEventLog
  # "step.completed.tasker_core", "shop.payment_captured.tasker_core".
  EVENTS = /\A[^.]+\.[^.]+\.tasker_core\z/

  @mutex = Mutex.new
  @by_task = Hash.new { |h, k| h[k] = [] }

  class << self
    # @param name [String] the notification's name
    # @param payload [Hash] the event's context, Symbol keys
    def record(name, payload)
      @mutex.synchronize { @by_task[payload[:task_id]] << name.delete_suffix(".tasker_core") }
    end

    # @param task_id [Integer]
    # @return [Array<String>] event names in the order they arrived
    def for_task(task_id)
      @mutex.synchronize { @by_task[task_id].dup }
    end
  end
end
