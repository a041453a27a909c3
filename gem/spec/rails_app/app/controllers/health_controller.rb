# frozen_string_literal: true

# GET /up: whether this process orchestrates, and where its tasks live.
class HealthController < ApplicationController
  # GET /up
  def show
    engine = TaskerCore.engine
    render json: { pid: Process.pid, orchestrating: TaskerCore::Rails.orchestrating?,
                   database_url: engine&.database_url, workers: engine&.pool&.size }
  end
end
