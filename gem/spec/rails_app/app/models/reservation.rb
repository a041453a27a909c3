# frozen_string_literal: true

# Stock held for an order (written by Shop::ReserveStock).
class Reservation < ApplicationRecord
  belongs_to :order
end
