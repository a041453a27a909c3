# frozen_string_literal: true

module Shop
  # Ships once stock is held and the payment captured.
  class ShipOrder < TaskerCore::BaseStepHandler
    def process(context)
      order = Order.find(context.task_context.fetch("order_id"))
      reservation_ids = context.results_of(:reserve_stock).fetch("reservation_ids")
      payment_id = context.results_of(:charge_card).fetch("payment_id")
      order.update!(status: "shipped", tracking: "T-#{order.id}-#{reservation_ids.first}-#{payment_id}")
      { "tracking" => order.tracking }
    end
  end
end
