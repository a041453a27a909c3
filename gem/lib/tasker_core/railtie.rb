# frozen_string_literal: true

require_relative "rails/configuration"
require_relative "rails/database_url"
require_relative "rails/process_role"
require_relative "rails/handler_lookup"
require_relative "rails/executor_wrap"
require_relative "rails/log_subscriber"
require_relative "rails/launcher"
require_relative "cli/worker_process"

module TaskerCore
  # tasker-core inside a Rails app: settings, start and stop (see {Railtie}).
  #
  # Inside `module TaskerCore`, `Rails` means this module: code here says `::Rails` for the
  # framework.
  module Rails
    class << self
      # The settings; `config.tasker_core` and {TaskerCore.configure} give the same object.
      # @return [Configuration]
      def config
        @config ||= Configuration.new
      end

      # Set once the app has initialized.
      # @return [Launcher, nil]
      attr_accessor :launcher

      # The feature flag (`config.tasker_core.enabled`, the seed's use_rust_orchestration):
      # an app moving from the Tasker engine branches on it to pick its coordinator.
      # @return [Boolean]
      def enabled?
        config.enabled
      end

      # Whether tasker-core runs workflows in this process now.
      # @return [Boolean]
      def orchestrating?
        enabled? && !launcher.nil? && launcher.running?
      end

      # Starts the engine where autostart did not (a console, `autostart = false`).
      # @return [TaskerCore::Engine]
      # @raise [ConfigurationError] before the app has initialized, or when disabled
      def start
        launcher!.start
      end

      # Stops the engine (at exit this happens by itself).
      # @return [void]
      def stop
        launcher&.stop
      end

      # Deletes finished tasks older than `older_than` seconds (default
      # `config.tasker_core.retention`) now: what `bin/rails tasker_core:cleanup` does. Uses
      # this process's engine when it runs, else starts one that runs nothing (no handlers,
      # no recovery) for the while.
      # @param older_than [Numeric, String, nil] seconds
      # @param batch_size [Integer, String, nil] tasks per transaction (default 1,000)
      # @return [Hash] deleted_tasks:, deleted_steps:, older_than:
      # @raise [ConfigurationError] when no age is given and none is configured
      def cleanup(older_than: nil, batch_size: nil)
        launcher!.cleanup(older_than: older_than, batch_size: batch_size)
      end

      # Runs this process as a worker until TERM or INT: what `bin/rails tasker_core:work`
      # does, for a script of your own (`bin/jobs`).
      # @return [Symbol] how it stopped
      def work
        launcher!.work
      end

      # In a forked child (Puma's `on_worker_boot`): starts a fresh engine in place of the
      # parent's.
      # @return [TaskerCore::Engine, nil]
      def after_fork
        launcher!.after_fork
      end

      # Where tasker-core logs: config.tasker_core.logger, else Rails.logger.
      # @return [Logger, nil]
      def logger
        config.logger || (::Rails.logger if ::Rails.respond_to?(:logger))
      end

      private

      def launcher!
        launcher || raise(ConfigurationError, "tasker-core starts once the Rails app has initialized " \
                                              "(call this from an initializer's after_initialize, or later)")
      end
    end
  end

  # Changes tasker-core's Rails settings (the same object as `config.tasker_core`).
  #
  #   TaskerCore.configure do |config|
  #     config.workers = 8
  #     config.enabled = ENV.fetch("USE_RUST_ORCHESTRATION", "true")
  #   end
  # @yieldparam config [TaskerCore::Rails::Configuration]
  # @return [TaskerCore::Rails::Configuration]
  def self.configure
    yield Rails.config
    Rails.config
  end

  # Hooks tasker-core into a Rails app: `config.tasker_core` settings, an engine started
  # after the app initializes (in processes that serve or work) and stopped at exit,
  # engine events on ActiveSupport::Notifications and in the Rails log, handlers found
  # through Zeitwerk and run inside the Rails reloader.
  class Railtie < ::Rails::Railtie
    config.tasker_core = TaskerCore::Rails.config

    # After every initializer, so `TaskerCore.configure` in config/initializers has run,
    # and after eager loading in production.
    config.after_initialize do |app|
      launcher = TaskerCore::Rails::Launcher.new(app.config.tasker_core, app)
      TaskerCore::Rails.launcher = launcher
      if app.config.tasker_core.restart_after_fork
        ActiveSupport::ForkTracker.after_fork do
          launcher.after_fork
        rescue StandardError => e # the child goes on without an engine; its submits say so
          launcher.logger&.error("tasker-core: could not restart after fork: #{e.class}: #{e.message}")
        end
      end
      launcher.autostart
    end

    # rake tasker:graph[path/to/template.yaml] and bin/rails tasker_core:work in the app.
    rake_tasks do
      load File.expand_path("tasks/graph.rake", __dir__)
      load File.expand_path("tasks/work.rake", __dir__)
      load File.expand_path("tasks/cleanup.rake", __dir__)
    end

    # Handlers written for the Tasker engine (Tasker::StepHandler::Base, Tasker's errors)
    # load unchanged: the compatibility layer stands in for the Tasker gem when it is absent.
    initializer "tasker_core.tasker_compat", before: :load_config_initializers do
      require_relative "tasker_compat" unless Gem.loaded_specs.key?("tasker-engine")
    end

    initializer "tasker_core.log_subscriber" do
      TaskerCore::Rails::LogSubscriber.attach_to :tasker_core
    end
  end
end
