# frozen_string_literal: true

module Shop
  # The fulfil_order template's task handler: `Shop::FulfilOrder.new.submit(context)`.
  class FulfilOrder < TaskerCore::BaseTaskHandler
    # Orders submitted without a channel came from the web shop.
    def initialize_context(context) = { "channel" => "web" }.merge(context)
  end
end
