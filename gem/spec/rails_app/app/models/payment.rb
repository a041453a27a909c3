# frozen_string_literal: true

# One attempt to charge an order (written by Shop::ChargeCard, declined ones included).
class Payment < ApplicationRecord
  belongs_to :order
end
