# frozen_string_literal: true

module Shop
  # Tells the customer (here: returns the message).
  class NotifyCustomer < TaskerCore::BaseStepHandler
    def process(context)
      order = Order.find(context.task_context.fetch("order_id"))
      { "message" => "Order #{order.id} shipped: #{order.tracking}" }
    end
  end
end
