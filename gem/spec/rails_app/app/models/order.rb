# frozen_string_literal: true

# An order to fulfil. `fulfil_later: true` submits its workflow from a callback, through a
# job, once the order is committed (a handler must be able to read it).
class Order < ApplicationRecord
  has_many :reservations, dependent: :destroy
  has_many :payments, dependent: :destroy

  attribute :fulfil_later, :boolean, default: false

  validates :sku, presence: true
  validates :quantity, numericality: { only_integer: true, greater_than: 0 }

  after_create_commit :submit_fulfilment_later, if: :fulfil_later

  # The fulfil_order task's context.
  # @return [Hash]
  def fulfilment_context
    { "order_id" => id, "items" => [{ "sku" => sku, "quantity" => quantity }] }
  end

  private

  def submit_fulfilment_later
    TaskerCore::SubmitTaskJob.perform_later("fulfil_order", fulfilment_context, namespace: "shop",
                                                                                source_system: "order_callback")
  end
end
