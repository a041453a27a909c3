# frozen_string_literal: true

require "logger"
require "socket"
require "time"

module TaskerCore
  class CLI
    # A failure at run time (exit status 1): the message says what could not be done.
    class Failure < StandardError; end

    # `tasker-core work`: a worker process, the equivalent of `bundle exec sidekiq`. Loads the
    # handler code, starts a worker-role engine that claims tasks from the database — tasks
    # submitted by other processes (web processes with `role: :client`), and tasks left by
    # processes that died — and runs their steps until TERM or INT ({WorkerProcess}).
    #
    # On PostgreSQL, run as many as the work needs, on as many hosts; on SQLite a file serves
    # one engine process, so one `work` per file (it runs what is stored there, including
    # tasks a stopped process left unfinished).
    class Work < Command
      # One line for `tasker-core --help`.
      SUMMARY = "Run the step handlers of tasks stored in the database until TERM or INT"
      # Seconds running steps get after the first TERM/INT: below the 30 s Kubernetes,
      # systemd and Heroku wait before they send SIGKILL, so the hand-back still happens.
      DEFAULT_SHUTDOWN_TIMEOUT = 25
      # Handler threads when neither --workers nor --concurrency says (as Engine.start).
      DEFAULT_WORKERS = 4

      # @param argv [Array<String>]
      # @param out [IO] the log
      # @param err [IO] errors
      def initialize(argv, out: $stdout, err: $stderr)
        super
        @requires = []
        @templates = []
        @workers = nil
        @concurrency = nil
        @ractors = 0
        @database_url = nil
        @engine_options = {}
        @shutdown_timeout = nil
        @config = nil
      end

      private

      def define_options(parser)
        parser.separator "Settings:"
        parser.on("-C", "--config FILE", "YAML settings file (ERB first): the options below by name, and " \
                                         "step_timeout, concurrency, retention…, schedules (docs/processes.md); " \
                                         "the command line wins") do |v|
          @config = WorkConfig.new(existing_path("--config", v))
        end
        parser.separator ""
        parser.separator "Code and templates:"
        parser.on("-r", "--require FILE", "Ruby file to load first (step handlers); a directory loads its " \
                                          "**/*.rb. Repeatable") { |v| @requires << existing_path("--require", v) }
        parser.on("-t", "--templates PATH", "Template file or directory to register. Repeatable") do |v|
          @templates << existing_path("--templates", v)
        end
        parser.on("-e", "--environment NAME", "Applies the templates' `environments:` overrides for NAME") do |v|
          @engine_options[:environment] = v
        end
        parser.separator ""
        parser.separator "Capacity:"
        parser.on("-w", "--workers N", "Handler threads: steps this process runs at once (default #{DEFAULT_WORKERS})") do |v|
          @workers = integer("--workers", v, min: 0)
        end
        parser.on("-c", "--concurrency N", "Another name for --workers, as in Sidekiq (both given: they must agree)") do |v|
          @concurrency = integer("--concurrency", v, min: 0)
        end
        parser.on("--ractors N", "Ractors for steps marked `execution: ractor` (default 0)") do |v|
          @ractors = integer("--ractors", v, min: 0)
          @ractors_given = true
        end
        parser.on("--max-tasks N", "Most claimed tasks driven at once (default 25 per thread and Ractor)") do |v|
          @engine_options[:max_tasks] = integer("--max-tasks", v, min: 1)
        end
        parser.separator ""
        parser.separator "Database:"
        parser.on("-d", "--database-url URL", "Where tasks live (default: TASKER_DATABASE_URL, else " \
                                              "sqlite://./tasker_core.sqlite3)") do |v|
          @database_url = database_url("--database-url", v)
        end
        parser.on("--claim-interval S", "Longest wait between two looks for work (default 1; NOTIFY wakes sooner)") do |v|
          @engine_options[:claim_interval] = seconds("--claim-interval", v)
        end
        parser.on("--lease-timeout S", "Heartbeat age after which a process counts as dead (default 30; " \
                                       "the same in every process)") do |v|
          @engine_options[:lease_timeout] = seconds("--lease-timeout", v)
        end
        parser.on("--heartbeat-interval S", "Seconds between heartbeats (default 5; below --lease-timeout)") do |v|
          @engine_options[:heartbeat_interval] = seconds("--heartbeat-interval", v)
        end
        parser.separator ""
        parser.separator "Stopping:"
        parser.on("--shutdown-timeout S", "Seconds running steps get after TERM/INT before they are handed " \
                                          "back (default #{DEFAULT_SHUTDOWN_TIMEOUT}); a second TERM/INT hands " \
                                          "them back at once") do |v|
          @shutdown_timeout = seconds("--shutdown-timeout", v)
        end
      end

      def execute
        apply_config if @config
        @shutdown_timeout ||= DEFAULT_SHUTDOWN_TIMEOUT
        workers = handler_threads
        logger = build_logger
        process = WorkerProcess.new(logger: logger, shutdown_timeout: @shutdown_timeout).trap_signals
        require_relative "../../tasker_core"
        # Handler classes must exist before templates register: a class that declares
        # `execution :ractor` is asked where its steps run.
        load_code(Failure)
        engine = start_engine(workers, logger)
        warn_unloaded_handlers(engine, logger)
        logger.info("tasker-core: #{describe(engine, workers)}")
        logger.info("tasker-core: #{@config.describe(overridden: @overridden)}") if @config
        outcome = process.run(engine) { engine.close(timeout: @shutdown_timeout) }
        # Abandoned: the store may not have written its last changes nor released its claims.
        outcome == :abandoned ? CLI::EXIT_FAILURE : CLI::EXIT_OK
      rescue Failure => e
        @err.puts "tasker-core work: #{one_line(e.message)}"
        CLI::EXIT_FAILURE
      end

      # The file's settings where the command line gave none, each checked as its option is.
      def apply_config
        given = given_on_command_line
        @overridden = @config.keys & given
        from_file = ->(key) { !@config[key].nil? && !given.include?(key) }
        where = @config.method(:where)
        @requires = @config.list("require").map { |p| existing_path(where.("require"), p) } if from_file.("require")
        @templates = @config.list("templates").map { |p| existing_path(where.("templates"), p) } if from_file.("templates")
        @workers = integer(where.("workers"), @config["workers"].to_s, min: 0) if from_file.("workers")
        @ractors = integer(where.("ractors"), @config["ractors"].to_s, min: 0) if from_file.("ractors")
        @database_url = database_url(where.("database_url"), @config["database_url"].to_s) if from_file.("database_url")
        @shutdown_timeout = seconds(where.("shutdown_timeout"), @config["shutdown_timeout"]) if from_file.("shutdown_timeout")
        @engine_options[:environment] = @config["environment"].to_s if from_file.("environment")
        @engine_options[:max_tasks] = integer(where.("max_tasks"), @config["max_tasks"].to_s, min: 1) if from_file.("max_tasks")
        %w[claim_interval lease_timeout heartbeat_interval].each do |key|
          @engine_options[key.to_sym] = seconds(where.(key), @config[key]) if from_file.(key)
        end
        @engine_options.merge!(@config.engine_options)
      end

      # The settings' names (as the file spells them) that the command line set.
      def given_on_command_line
        given = @engine_options.keys.map(&:to_s)
        given << "require" if @requires.any?
        given << "templates" if @templates.any?
        given << "workers" if @workers || @concurrency
        given << "ractors" if @ractors_given
        given << "database_url" if @database_url
        given << "shutdown_timeout" if @shutdown_timeout
        given
      end

      def handler_threads
        if @workers && @concurrency && @workers != @concurrency
          raise UsageError, "--workers #{@workers} and --concurrency #{@concurrency} disagree " \
                            "(--concurrency is another name for --workers)"
        end
        workers = @workers || @concurrency || DEFAULT_WORKERS
        if (workers + @ractors).zero?
          raise UsageError, "--workers 0 and --ractors 0: this worker would run no handlers " \
                            "(a process that only submits starts an engine with role: :client)"
        end
        workers
      end

      def build_logger
        @out.sync = true if @out.respond_to?(:sync=)
        logger = Logger.new(@out)
        logger.formatter = proc do |severity, time, _progname, message|
          "#{time.utc.iso8601(3)} pid=#{Process.pid} #{severity}: #{message}\n"
        end
        logger
      end

      def start_engine(workers, logger)
        Engine.start(templates: @templates, workers: workers, ractors: @ractors, database_url: @database_url,
                     role: :worker, recover: true, logger: logger, **@engine_options)
      rescue TaskerCore::Error => e
        raise Failure, "could not start the engine: #{e.message}"
      end

      # The usual first-run mistake (no --require, or the wrong file) otherwise shows only as
      # steps failing with HandlerNotFoundError, retried until their retry limit.
      def warn_unloaded_handlers(engine, logger)
        missing = engine.templates.reject { |t| t["module_namespace"] }.flat_map do |template|
          key = "#{template['namespace']}/#{template['name']}@#{template['version']}"
          template["steps"].map { |step| [step["handler_class"], key] }
        end
        missing = missing.uniq.reject do |handler_class, _key|
          engine.resolver.handler_class(handler_class)
        rescue HandlerNotFoundError
          false
        end
        return if missing.empty?

        names = missing.group_by(&:first).map { |name, pairs| "#{name} (#{pairs.map(&:last).join(', ')})" }
        logger.warn("tasker-core: handler classes not loaded: #{names.join(', ')}; their steps fail until they are " \
                    "(load them with --require)")
      end

      def describe(engine, workers)
        keys = engine.templates.map { |t| "#{t['namespace']}/#{t['name']}@#{t['version']}" }
        capacity = ["#{workers} handler #{workers == 1 ? 'thread' : 'threads'}"]
        capacity << "#{@ractors} #{@ractors == 1 ? 'Ractor' : 'Ractors'}" if @ractors.positive?
        "worker ready: pid #{Process.pid} on #{Socket.gethostname}, database #{engine.database_url}, " \
          "#{capacity.join(' and ')}, #{keys.size} #{keys.size == 1 ? 'template' : 'templates'}" \
          "#{": #{keys.join(', ')}" if keys.any?} (TERM or INT stops it)"
      end

      def one_line(message)
        message.to_s.lines.map(&:strip).reject(&:empty?).join(" | ")
      end
    end
  end
end
