# frozen_string_literal: true

module Shop
  # Holds the order's items and notes the task on the order (a job-submitted order learns
  # its task id here).
  class ReserveStock < TaskerCore::BaseStepHandler
    def process(context)
      order = Order.find(context.task_context.fetch("order_id"))
      reservations = context.task_context.fetch("items").map do |item|
        order.reservations.create!(sku: item.fetch("sku"), quantity: item.fetch("quantity"))
      end
      order.update!(status: "reserved", task_id: context.task_id)
      { "reservation_ids" => reservations.map(&:id) }
    end
  end
end
