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
    # - in a forked child (Puma workers), start a fresh engine when asked;
    # - in `bin/rails tasker_core:work`, run a worker engine until TERM or INT ({#work}).
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
        if role.kind == :worker_task
          log(:debug, "not autostarted in #{role}: the task starts a worker engine itself")
          return nil
        end
        if config.autostart == :auto && !role.serves_or_works?
          log(:debug, "not started in #{role} (config.tasker_core.autostart = true starts it anyway)")
          return nil
        end
        start(role)
      end

      # Starts the engine now (once; later calls return the running one).
      # @param role [ProcessRole, nil] only names the process in the log line
      # @param as [Symbol] the engine's role: config.tasker_core.role, or :worker for
      #   `tasker_core:work` in an app whose web processes are clients
      # @return [TaskerCore::Engine]
      # @raise [ConfigurationError] when disabled or a setting cannot be used
      def start(role = nil, as: config.role)
        raise ConfigurationError, "tasker-core is disabled (config.tasker_core.enabled is false)" unless config.enabled
        return TaskerCore.engine if running?
        return after_fork if TaskerCore.engine&.forked?

        options = engine_options(role: as)
        engine = TaskerCore.start(**options)
        install_exit_hook
        check_ractor_steps(engine, options)
        check_connection_pool(options[:workers])
        log(:info, "started#{" in #{role}" if role} (#{describe(engine, options)})")
        engine
      end

      # Runs this process as a worker until TERM or INT (`bin/rails tasker_core:work`):
      # starts a worker-role engine with the app's settings, logs to stdout when it is
      # ready, and stops it by {TaskerCore::CLI::WorkerProcess}'s protocol — running steps
      # get `shutdown_timeout` seconds, a second signal hands them back at once.
      # @param out [IO] where the worker's own lines go (the Rails log gets its usual ones)
      # @return [Symbol] how it stopped (see {TaskerCore::CLI::WorkerProcess#run})
      # @raise [ConfigurationError] when disabled, or when this process already runs a
      #   client engine (started by hand)
      def work(out: $stdout)
        raise ConfigurationError, "tasker-core is disabled (config.tasker_core.enabled is false)" unless config.enabled
        if running? && TaskerCore.start_options&.fetch(:role, :worker) != :worker
          raise ConfigurationError, "tasker_core:work: this process already runs a client engine (started before " \
                                    "the task ran); leave the engine to the task"
        end

        console = worker_logger(out)
        process = CLI::WorkerProcess.new(logger: console, shutdown_timeout: config.shutdown_timeout).trap_signals
        engine = start(ProcessRole.new(skip_tasks: config.skip_tasks), as: :worker)
        console.info("tasker-core: worker ready: pid #{Process.pid}, #{describe(engine, TaskerCore.start_options)} " \
                     "(TERM or INT stops it)")
        process.run(engine) { stop }
      end

      # Deletes finished tasks older than `older_than` seconds (default `retention`) now
      # (`bin/rails tasker_core:cleanup`): with this process's engine when it runs, else with
      # one started for the while that runs no handlers and recovers nothing.
      # @param older_than [Numeric, String, nil]
      # @param batch_size [Integer, String, nil]
      # @return [Hash] deleted_tasks:, deleted_steps:, older_than:
      # @raise [ConfigurationError] when no age is given and `retention` is not set
      def cleanup(older_than: nil, batch_size: nil)
        raise ConfigurationError, "tasker-core is disabled (config.tasker_core.enabled is false)" unless config.enabled

        age = older_than.nil? ? config.retention : Float(older_than, exception: false)
        if age.nil?
          raise ConfigurationError, "tasker_core:cleanup needs an age: set config.tasker_core.retention or " \
                                    "OLDER_THAN=seconds#{" (got #{older_than.inspect})" unless older_than.nil?}"
        end
        batch = batch_size.nil? ? config.retention_batch : Integer(batch_size, exception: false) || batch_size
        return TaskerCore.engine.cleanup(older_than: age, batch_size: batch).merge(older_than: age) if running?

        options = engine_options(role: :worker).merge(workers: 0, ractors: 0, recover: false, templates: [],
                                                      retention: nil, retention_interval: nil, retention_batch: nil,
                                                      retention_export: nil, schedules: nil)
        engine = TaskerCore::Engine.start(**options)
        begin
          engine.cleanup(older_than: age, batch_size: batch, export: config.retention_export).merge(older_than: age)
        ensure
          engine.stop(timeout: 5)
        end
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

      # The options {Engine.start} gets. A client runs no handlers, so its `workers` and
      # `ractors` are 0 whatever the settings say: they are the worker processes' numbers.
      # @param role [Symbol] :worker or :client
      # @return [Hash{Symbol => Object}]
      def engine_options(role: config.role)
        client = role == :client
        { database_url: database_url, templates: template_paths, workers: client ? 0 : config.workers,
          batch_size: config.batch_size, ractors: client ? 0 : config.ractors,
          environment: config.environment || ::Rails.env.to_s,
          logger: logger, handler_lookup: HandlerLookup.new, cache_handlers: app.config.cache_classes,
          around_step: ExecutorWrap.for(config.executor, app), recover: config.recover,
          backoff_scale: config.backoff_scale, instrument: config.instrument, role: role,
          lease_timeout: config.lease_timeout, heartbeat_interval: config.heartbeat_interval,
          claim_interval: config.claim_interval, max_tasks: config.max_tasks, retention: config.retention,
          retention_interval: config.retention_interval, retention_batch: config.retention_batch,
          retention_export: config.retention.nil? ? nil : config.retention_export,
          schedules: config.schedules, concurrency: config.concurrency, step_timeout: config.step_timeout }
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

      # `execution: ractor` steps wait forever for a Ractor pool that was not started (in a
      # worker: a client runs no steps).
      def check_ractor_steps(engine, options)
        return if options[:role] == :client || options[:ractors].positive?

        steps = begin
          options[:templates].flat_map { |path| engine.native.ractor_steps_in(path, nil) }
        ensure
          # No registration follows to take what the call compiled and kept for one.
          engine.native.forget_checked_template
        end
        return if steps.empty?

        TaskerCore.stop(timeout: 1)
        raise ConfigurationError, "config.tasker_core.ractors is 0 but #{steps.map(&:last).uniq.join(', ')} " \
                                  "run with execution: ractor: set config.tasker_core.ractors to 1 or more"
      end

      # Each handler run checks out a connection while it uses ActiveRecord.
      def check_connection_pool(workers)
        return unless defined?(::ActiveRecord::Railtie) && workers.positive?

        size = ::ActiveRecord::Base.connection_pool.size
        return if size > workers

        log(:warn, "config.tasker_core.workers is #{workers} but the database pool holds #{size} " \
                   "connections, shared with request threads: raise `pool:` in config/database.yml")
      rescue ::ActiveRecord::ActiveRecordError
        nil
      end

      # A console logger for `tasker_core:work`, as `rails server` prints to its terminal.
      def worker_logger(out)
        out.sync = true if out.respond_to?(:sync=)
        console = ::Logger.new(out)
        console.formatter = proc do |severity, time, _progname, message|
          "#{time.utc.iso8601(3)} pid=#{Process.pid} #{severity}: #{message}\n"
        end
        console
      end

      def describe(engine, options)
        keys = engine.templates.map { |t| "#{t['namespace']}/#{t['name']}@#{t['version']}" }
        role = options[:role] == :client ? "client (submits; worker processes run the handlers)" : nil
        "database #{DatabaseUrl.redact(engine.database_url.to_s)}, " \
          "#{role || "#{options[:workers]} handler threads"}" \
          "#{", #{options[:ractors]} Ractors" if options[:ractors].positive?}, " \
          "#{keys.size} #{keys.size == 1 ? 'template' : 'templates'}#{": #{keys.join(', ')}" if keys.any?}"
      end

      def log(level, message)
        logger&.public_send(level, "tasker-core: #{message}")
      end
    end
  end
end
