# frozen_string_literal: true

# Base of the shop's controllers.
class ApplicationController < ActionController::API
  rescue_from TaskerCore::ValidationError do |error|
    render json: { error: error.message }, status: :unprocessable_entity
  end
end
