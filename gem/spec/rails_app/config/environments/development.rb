# frozen_string_literal: true

Rails.application.configure do
  # Code reloading: an edited handler runs as edited on its next step.
  config.cache_classes = false
  config.eager_load = false
  # Polls mtimes (the evented checker needs the `listen` gem, which is not packaged here).
  config.file_watcher = ActiveSupport::FileUpdateChecker
  config.consider_all_requests_local = true
  config.active_support.deprecation = :log
  config.active_record.migration_error = false
end
