# frozen_string_literal: true

module TaskerCore
  module Rails
    # Starts and stops the process-wide engine ({TaskerCore.start}) for a Rails app, from
    # its settings ({Configuration}).
    #
    # Duties:
    # - after the app initializes, start the engine where the process serves or works
    #   ({ProcessRole}), unless the feature flag is off;
    # - translate the settings: the app's database, Rails.root-relative template paths,
    #   Rails.logger, Rails.env, Zeitwerk lookup of handlers, the Rails reloader around
    #   each handler run;
    # - stop the engine when the process exits, within `shutdown_timeout`, so a server or
    #   `rails runner` never hangs on it;
    # - in a forked child (Puma workers), start a fresh engine when asked.
    class Launcher
      # @return [Configuration]
      attr_reader :config
      # @return [Rails::Application]
      attr_reader :app

      # @param config [Configuration]
      # @param app [Rails::Application]
      def initialize(config, app)
        @config = config
        @app = app
        @exit_hook = false
      end

      # Starts the engine if this process should run one (see {Configuration#autostart=}).
      # @return [TaskerCore::Engine, nil]
      def autostart
        unless config.enabled
          log(:info, "disabled (config.tasker_core.enabled is false): the app's own coordinator runs")
          return nil
        end
        return nil if config.autostart == false

        role = ProcessRole.new(skip_tasks: config.skip_tasks)
        if config.autostart == :auto && !role.serves_or_works?
          log(:debug, "not started in #{role} (config.tasker_core.autostart = true starts it anyway)")
          return nil
        end
        start(role)
      end

      # Starts the engine now (once; later calls return the running one).
      # @param role [ProcessRole, nil] only names the process in the log line
      # @return [TaskerCore::Engine]
      # @raise [ConfigurationError] when disabled or a setting cannot be used
      def start(role = nil)
        raise ConfigurationError, "tasker-core is disabled (config.tasker_core.enabled is false)" unless config.enabled
        return TaskerCore.engine if running?
        return after_fork if TaskerCore.engine&.forked?

        options = engine_options
        engine = TaskerCore.start(**options)
        install_exit_hook
        check_ractor_steps(engine, options[:templates])
        check_connection_pool
        log(:info, "started#{" in #{role}" if role} (#{describe(engine, options)})")
        engine
      end

      # Stops the engine: running steps get `shutdown_timeout` seconds, then the engine
      # takes back what is still handed out (it runs again later) and closes its store.
      # @return [void]
      def stop
        engine = TaskerCore.engine
        return if engine.nil? || engine.forked? # a parent's engine: nothing of it runs here

        started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        TaskerCore.stop(timeout: config.shutdown_timeout)
        log(:info, format("stopped in %.2f s", Process.clock_gettime(Process::CLOCK_MONOTONIC) - started))
      end

      # In a forked child: starts a fresh engine in place of the parent's, which cannot run
      # here (see {TaskerCore.after_fork}). Does nothing when the parent ran none.
      # @return [TaskerCore::Engine, nil]
      def after_fork
        return nil unless TaskerCore.engine&.forked?

        engine = TaskerCore.after_fork
        install_exit_hook
        if engine.database_url.to_s.start_with?("sqlite")
          log(:warn, "restarted after fork in pid #{Process.pid} on SQLite, which serves one engine process " \
                     "per file: use PostgreSQL with several processes")
        else
          log(:info, "restarted after fork in pid #{Process.pid}")
        end
        engine
      end

      # Whether this process's engine runs.
      # @return [Boolean]
      def running?
        engine = TaskerCore.engine
        !engine.nil? && !engine.forked? && !engine.stopped?
      end

      # The options {Engine.start} gets.
      # @return [Hash{Symbol => Object}]
      def engine_options
        { database_url: database_url, templates: template_paths, workers: config.workers,
          batch_size: config.batch_size, ractors: config.ractors, environment: config.environment || ::Rails.env.to_s,
          logger: logger, handler_lookup: HandlerLookup.new, cache_handlers: app.config.cache_classes,
          around_step: ExecutorWrap.for(config.executor, app), recover: config.recover,
          backoff_scale: config.backoff_scale, instrument: config.instrument }
      end

      # Where tasks live: config.tasker_core.database_url, else TASKER_DATABASE_URL, else
      # the app's ActiveRecord database (on SQLite, a file beside it: see {DatabaseUrl}),
      # else db/tasker_core.sqlite3.
      # @return [String]
      # @raise [ConfigurationError] for ActiveRecord's own SQLite file, which this process
      #   cannot share with the engine
      def database_url
        url = config.database_url || ENV["TASKER_DATABASE_URL"].presence || active_record_url ||
              "sqlite://#{File.join(app.root.to_s, 'db', 'tasker_core.sqlite3')}"
        check_not_active_record_file(url)
        url
      end

      # Template files and directories to register, as absolute paths.
      # @return [Array<String>]
      # @raise [ConfigurationError] when a configured path does not exist
      def template_paths
        if config.templates
          config.templates.map do |path|
            full = File.expand_path(path, app.root.to_s)
            raise ConfigurationError, "config.tasker_core.templates: #{full} does not exist" unless File.exist?(full)

            full
          end
        else
          default = File.join(app.root.to_s, Configuration::DEFAULT_TEMPLATES)
          return [default] if Dir.glob(File.join(default, "**", "*.{yml,yaml}")).any?

          log(:warn, "no templates in #{default} (run `rails generate tasker_core:install`, or set " \
                     "config.tasker_core.templates)")
          []
        end
      end

      # @return [Logger]
      def logger
        config.logger || ::Rails.logger
      end

      private

      def active_record_url
        db_config = active_record_config
        db_config && DatabaseUrl.from_active_record(db_config, root: app.root)
      end

      def check_not_active_record_file(url)
        engine_file = DatabaseUrl.sqlite_path(url)
        return unless engine_file && defined?(::ActiveRecord::Railtie)

        app_file = DatabaseUrl.active_record_sqlite_path(active_record_config || {}, app.root)
        return unless app_file && File.expand_path(app_file) == engine_file

        setting = config.database_url ? "config.tasker_core.database_url" : "TASKER_DATABASE_URL"
        raise ConfigurationError, "#{setting} names ActiveRecord's own SQLite file #{engine_file}: the engine's copy " \
                                  "of SQLite and ActiveRecord's cannot share a file in one process (their locks do not " \
                                  "see each other, and the file is corrupted). Leave it unset (the engine then uses " \
                                  "a file beside it), or name another file"
      end

      def active_record_config
        return nil unless defined?(::ActiveRecord::Railtie)

        ::ActiveRecord::Base.connection_db_config.configuration_hash
      rescue ::ActiveRecord::ConnectionNotEstablished
        nil
      end

      # An engine never dies with the process: its threads are Rust's. at_exit stops it
      # first (handlers registered later run earlier, and this one is registered after the
      # app initialized) so Rails is still whole while the last steps finish.
      def install_exit_hook
        return if @exit_hook

        @exit_hook = true
        at_exit { stop }
      end

      # `execution: ractor` steps wait forever for a Ractor pool that was not started.
      def check_ractor_steps(engine, paths)
        return if config.ractors.positive?

        steps = paths.flat_map { |path| engine.native.ractor_steps_in(path, nil) }
        return if steps.empty?

        TaskerCore.stop(timeout: 1)
        raise ConfigurationError, "config.tasker_core.ractors is 0 but #{steps.map(&:last).uniq.join(', ')} " \
                                  "run with execution: ractor: set config.tasker_core.ractors to 1 or more"
      end

      # Each handler run checks out a connection while it uses ActiveRecord.
      def check_connection_pool
        return unless defined?(::ActiveRecord::Railtie) && config.workers.positive?

        size = ::ActiveRecord::Base.connection_pool.size
        return if size > config.workers

        log(:warn, "config.tasker_core.workers is #{config.workers} but the database pool holds #{size} " \
                   "connections, shared with request threads: raise `pool:` in config/database.yml")
      rescue ::ActiveRecord::ActiveRecordError
        nil
      end

      def describe(engine, options)
        keys = engine.templates.map { |t| "#{t['namespace']}/#{t['name']}@#{t['version']}" }
        "database #{DatabaseUrl.redact(engine.database_url.to_s)}, #{options[:workers]} handler threads" \
          "#{", #{options[:ractors]} Ractors" if options[:ractors].positive?}, " \
          "#{keys.size} #{keys.size == 1 ? 'template' : 'templates'}#{": #{keys.join(', ')}" if keys.any?}"
      end

      def log(level, message)
        logger&.public_send(level, "tasker-core: #{message}")
      end
    end
  end
end
