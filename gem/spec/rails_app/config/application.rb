# frozen_string_literal: true

require_relative "boot"

require "rails"
require "active_model/railtie"
require "active_job/railtie"
require "active_record/railtie"
require "action_controller/railtie"
# What Bundler.require does for an app whose Gemfile lists tasker-core-rb.
require "tasker_core"

# A small shop: POST /orders stores an order and submits the shop/fulfil_order workflow,
# whose handlers (app/handlers/shop) reserve stock, take a payment and ship the order as
# ActiveRecord rows. gem/spec/rails boots it on SQLite and on PostgreSQL.
module ShopApp
  # The app.
  class Application < Rails::Application
    config.load_defaults 6.1
    config.api_only = true
    config.root = File.expand_path("..", __dir__)
    config.active_job.queue_adapter = :async
    config.log_level = :info

    # Settings the specs turn; an app would write its values here or in the initializer.
    config.tasker_core.workers = ENV.fetch("SHOP_TASKER_WORKERS", "4")
    config.tasker_core.templates = ENV["SHOP_TASKER_TEMPLATES"] if ENV["SHOP_TASKER_TEMPLATES"]
    config.tasker_core.restart_after_fork = ENV.fetch("SHOP_RESTART_AFTER_FORK", "false")
    config.tasker_core.backoff_scale = 0.05 # the flaky gateway's retry comes quickly
    # A web process that only submits, beside `bin/rails tasker_core:work` (PostgreSQL).
    config.tasker_core.role = ENV.fetch("SHOP_TASKER_ROLE", "worker")
    config.tasker_core.claim_interval = 0.5
  end
end
