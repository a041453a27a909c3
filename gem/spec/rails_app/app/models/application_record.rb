# frozen_string_literal: true

# Base of the shop's models.
class ApplicationRecord < ActiveRecord::Base
  self.abstract_class = true
end
