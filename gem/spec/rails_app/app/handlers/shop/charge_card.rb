# frozen_string_literal: true

module Shop
  # Charges the order. The "gateway" declines each order's first attempt, which is kept as
  # a declined Payment row; the engine retries the step.
  class ChargeCard < TaskerCore::BaseStepHandler
    def process(context)
      order = Order.find(context.task_context.fetch("order_id"))
      amount = order.quantity * context.handler_config.fetch("unit_price_cents")
      if context.attempt == 1
        order.payments.create!(amount_cents: amount, status: "declined")
        raise TaskerCore::RetryableError.new("gateway busy", retry_after: 1)
      end

      payment = order.payments.create!(amount_cents: amount, status: "captured")
      context.publish_event("shop.payment_captured", "order_id" => order.id, "amount_cents" => amount)
      { "payment_id" => payment.id, "amount_cents" => amount }
    end
  end
end
