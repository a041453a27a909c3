# frozen_string_literal: true

# What `rails generate tasker_core:install` writes, trimmed, plus what the shop observes.
TaskerCore.configure do |config|
  # The feature flag (the seed's use_rust_orchestration): off, the engine never starts and
  # Tasker::PerformanceCoordinator falls back to the app's own coordinator.
  config.enabled = ENV.fetch("USE_RUST_ORCHESTRATION", "true")
  config.shutdown_timeout = 5
end

# Engine events arrive as ActiveSupport notifications; the shop keeps their names per task
# (GET /orders/:id shows them). lib/ is not reloaded, so the log survives code reloads.
require Rails.root.join("lib", "tasker_event_log").to_s
ActiveSupport::Notifications.subscribe(TaskerEventLog::EVENTS) do |name, _start, _finish, _id, payload|
  TaskerEventLog.record(name, payload)
end

# The Tasker-style checkout of fixtures/tasker_compat (issue 22), when a spec asks for it:
# its handlers subclass Tasker::StepHandler::Base, which the Railtie's compatibility layer
# defined before this initializer ran.
if ENV["SHOP_TASKER_COMPAT"] == "1"
  compat = File.expand_path("../../fixtures/tasker_compat", ENV.fetch("TASKER_CORE_LIB"))
  require File.join(compat, "handlers", "checkout.rb")
  TaskerCore.configure do |config|
    config.templates = ["config/tasker/tasks", File.join(compat, "templates", "checkout.yaml")]
  end
end
