# frozen_string_literal: true

module TaskerCore
  module Rails
    # The settings of tasker-core in a Rails app: `config.tasker_core` in
    # config/application.rb or an environment file, or `TaskerCore.configure` in an
    # initializer (the same object).
    #
    #   config.tasker_core.workers = 8
    #   TaskerCore.configure { |c| c.templates = ["config/tasker/tasks", "engines/billing/tasks"] }
    #
    # Every setter checks its value at once and raises {TaskerCore::ConfigurationError}
    # naming the setting, so a typo fails at boot and not when the first step runs; an
    # unknown setting is refused the same way (ActiveSupport::OrderedOptions would
    # silently keep `config.tasker_core.wrokers`).
    class Configuration
      # Rake tasks during which `autostart = :auto` leaves the engine stopped: schema work
      # (an engine holding connections makes `db:drop` fail, and its tables would end up in
      # schema.rb), asset builds and introspection.
      DEFAULT_SKIP_TASKS = %w[db:* assets:* tmp:* log:* cache_digests:* zeitwerk:* webpacker:* yarn:*
                              active_storage:* action_mailbox:* action_text:* about middleware notes routes
                              secret stats time:*].freeze

      # Where templates live when `templates` is not set, relative to Rails.root.
      DEFAULT_TEMPLATES = "config/tasker/tasks"

      # Values `executor` accepts besides an object responding to #wrap or #call.
      EXECUTORS = %i[reloader executor none].freeze

      # Every setting, for error messages and #to_h.
      SETTINGS = %i[enabled autostart database_url templates workers batch_size ractors executor environment
                    logger instrument recover backoff_scale shutdown_timeout skip_tasks restart_after_fork
                    role lease_timeout heartbeat_interval claim_interval max_tasks
                    retention retention_interval retention_batch retention_export schedules concurrency
                    step_timeout].freeze

      # Values `role` accepts (see {TaskerCore::Engine.start}).
      ROLES = %i[worker client].freeze

      # Strings an environment variable may hold for a Boolean setting.
      BOOLEAN_STRINGS = { "true" => true, "1" => true, "yes" => true, "on" => true,
                          "false" => false, "0" => false, "no" => false, "off" => false, "" => false }.freeze

      # @return [Boolean] false: the engine never starts; the app's own coordinator runs
      attr_reader :enabled
      # @return [Symbol, Boolean] :auto (processes that serve or work), true, or false
      attr_reader :autostart
      # @return [String, nil] nil: TASKER_DATABASE_URL, else the app's ActiveRecord database
      attr_reader :database_url
      # @return [Array<String>, nil] nil: config/tasker/tasks when it exists
      attr_reader :templates
      # @return [Integer] handler threads
      attr_reader :workers
      # @return [Integer] steps a handler thread takes per wait
      attr_reader :batch_size
      # @return [Integer] Ractors for `execution: ractor` steps
      attr_reader :ractors
      # @return [Symbol, #wrap, #call] what wraps each handler run
      attr_reader :executor
      # @return [String, nil] nil: Rails.env
      attr_reader :environment
      # @return [Logger, nil] nil: Rails.logger
      attr_reader :logger
      # @return [Boolean] re-publish events through ActiveSupport::Notifications
      attr_reader :instrument
      # @return [Boolean] take over unfinished tasks at start
      attr_reader :recover
      # @return [Float] multiplies retry delays
      attr_reader :backoff_scale
      # @return [Numeric] seconds running steps get to finish when the process exits
      attr_reader :shutdown_timeout
      # @return [Array<String>] rake task patterns that do not start the engine
      attr_reader :skip_tasks
      # @return [Boolean] start a fresh engine in every forked child
      attr_reader :restart_after_fork
      # @return [Symbol] :worker (runs handlers) or :client (only submits)
      attr_reader :role
      # @return [Numeric, nil] nil: the engine's 30 s
      attr_reader :lease_timeout
      # @return [Numeric, nil] nil: the engine's 5 s
      attr_reader :heartbeat_interval
      # @return [Numeric] seconds between two looks for work to claim
      attr_reader :claim_interval
      # @return [Integer, nil] nil: 25 per handler thread and Ractor
      attr_reader :max_tasks
      # @return [Numeric, nil] seconds a finished task is kept; nil: kept forever
      attr_reader :retention
      # @return [Numeric, nil] nil: half of `retention`, between 0.1 and 60 s
      attr_reader :retention_interval
      # @return [Integer, nil] nil: 1,000 tasks per transaction
      attr_reader :retention_batch
      # @return [#call, nil] nil: expired tasks are deleted without being exported first
      attr_reader :retention_export
      # @return [Hash, nil] recurring tasks by name (see TaskerCore::Schedules); nil: none
      attr_reader :schedules
      # @return [Hash, nil] caps on steps out at once (see TaskerCore::DispatchGate); nil: none
      attr_reader :concurrency
      # @return [Numeric, nil] seconds a step's attempt may run when its template gives no
      #   timeout; nil: no limit
      attr_reader :step_timeout

      # The defaults: enabled, started where the process serves or works, on the app's
      # database, four handler threads inside the Rails reloader.
      def initialize
        @enabled = true
        @autostart = :auto
        @database_url = nil
        @templates = nil
        @workers = 4
        @batch_size = 16
        @ractors = 0
        @executor = :reloader
        @environment = nil
        @logger = nil
        @instrument = true
        @recover = true
        @backoff_scale = 1.0
        @shutdown_timeout = 10
        @skip_tasks = DEFAULT_SKIP_TASKS.dup
        @restart_after_fork = false
        @role = :worker
        @lease_timeout = nil
        @heartbeat_interval = nil
        @claim_interval = 1.0
        @max_tasks = nil
        @retention = nil
        @retention_interval = nil
        @retention_batch = nil
        @retention_export = nil
        @schedules = nil
        @concurrency = nil
        @step_timeout = nil
      end

      # The seed's feature flag: with it off the engine never starts, so an app migrating
      # from the Tasker engine keeps running its own coordinator. Accepts "true"/"false"
      # strings too, so `ENV["USE_RUST_ORCHESTRATION"]` can be assigned as it is.
      # @param value [Boolean, String]
      def enabled=(value)
        @enabled = boolean(:enabled, value)
      end
      alias use_rust_orchestration= enabled=
      alias use_rust_orchestration enabled

      # When the engine starts: `:auto` after the app initializes in processes that serve or
      # work (servers, `rails runner`, job workers, tests) but not in generators, consoles,
      # `db:*` and similar tasks; `true` in every process; `false` never (call
      # {TaskerCore::Rails.start} yourself).
      # @param value [Symbol, Boolean]
      def autostart=(value)
        value = value.to_sym if value.is_a?(String) && value == "auto"
        value = BOOLEAN_STRINGS.fetch(value.downcase) { value } if value.is_a?(String)
        unless [:auto, true, false].include?(value)
          raise ConfigurationError, "config.tasker_core.autostart must be :auto, true or false, got #{value.inspect}"
        end

        @autostart = value
      end

      # Where tasks live. Unset, tasker-core uses TASKER_DATABASE_URL, else the app's own
      # ActiveRecord database (PostgreSQL or SQLite), so Tasker's tables sit beside the
      # app's.
      # @param value [String, nil] sqlite://path, postgres://…, or memory:
      def database_url=(value)
        unless value.nil? || (value.is_a?(String) && value.match?(%r{\A(sqlite:|postgres(ql)?://|memory:)}))
          raise ConfigurationError, "config.tasker_core.database_url must be sqlite://path, postgres://user@host/db " \
                                    "or memory:, got #{redacted(value)}"
        end

        @database_url = value
      end

      # Template files or directories, relative to Rails.root. Each must exist at start.
      # @param value [String, Pathname, Array<String, Pathname>, nil]
      def templates=(value)
        paths = value.nil? ? nil : Array(value)
        if paths&.any? { |p| !(p.is_a?(String) || p.respond_to?(:to_path)) }
          raise ConfigurationError,
                "config.tasker_core.templates must be paths (String or Pathname), got #{value.inspect}"
        end

        @templates = paths&.map(&:to_s)
      end

      # @param value [Integer] handler threads; 0 runs none in this process
      def workers=(value)
        @workers = integer(:workers, value, min: 0)
      end

      # @param value [Integer]
      def batch_size=(value)
        @batch_size = integer(:batch_size, value, min: 1)
      end

      # @param value [Integer] 0 (the default) keeps every handler on threads, which is what
      #   ActiveRecord needs: it is not Ractor-safe
      def ractors=(value)
        @ractors = integer(:ractors, value, min: 0)
      end

      # What wraps each handler run on a thread: `:reloader` (the default: the Rails
      # reloader, as ActiveJob and Sidekiq use, so edited handlers are picked up in
      # development and connections go back to the pool), `:executor` (no reloading),
      # `:none`, or an object responding to #wrap (like Rails.application.executor) or
      # #call(&block).
      # @param value [Symbol, #wrap, #call]
      def executor=(value)
        value = value.to_sym if value.is_a?(String)
        value = :none if value.nil? || value == false
        unless EXECUTORS.include?(value) || value.respond_to?(:wrap) || value.respond_to?(:call)
          raise ConfigurationError,
                "config.tasker_core.executor must be one of #{EXECUTORS.map(&:inspect).join(', ')} " \
                "or respond to #wrap or #call, got #{value.inspect}"
        end

        @executor = value
      end

      # The environment whose `environments:` overrides the templates apply.
      # @param value [String, Symbol, nil] nil: Rails.env
      def environment=(value)
        unless value.nil? || value.is_a?(String) || value.is_a?(Symbol)
          raise ConfigurationError, "config.tasker_core.environment must be a String, got #{value.inspect}"
        end

        @environment = value&.to_s
      end

      # @param value [Logger, nil] nil: Rails.logger
      def logger=(value)
        unless value.nil? || %i[info warn error].all? { |m| value.respond_to?(m) }
          raise ConfigurationError, "config.tasker_core.logger must be a Logger, got #{value.inspect}"
        end

        @logger = value
      end

      # @param value [Boolean]
      def instrument=(value)
        @instrument = boolean(:instrument, value)
      end

      # @param value [Boolean]
      def recover=(value)
        @recover = boolean(:recover, value)
      end

      # @param value [Numeric] e.g. 0.01 in tests, so retries happen in milliseconds
      def backoff_scale=(value)
        @backoff_scale = number(:backoff_scale, value)
      end

      # @param value [Numeric] seconds; past it, steps still running are taken back and run
      #   again by the next engine (at-least-once)
      def shutdown_timeout=(value)
        @shutdown_timeout = number(:shutdown_timeout, value)
      end

      # @param value [Array<String>] glob patterns of rake task names ("db:*")
      def skip_tasks=(value)
        unless value.is_a?(Array) && value.all? { |t| t.is_a?(String) || t.is_a?(Symbol) }
          raise ConfigurationError,
                "config.tasker_core.skip_tasks must be an Array of task name patterns, got #{value.inspect}"
        end

        @skip_tasks = value.map(&:to_s)
      end

      # Off by default: a child forked for a moment (to exec a program, say) would start a
      # whole engine. Puma's cluster mode instead calls `TaskerCore.after_fork` in
      # `on_worker_boot`; turn this on to do it for every fork.
      # @param value [Boolean]
      def restart_after_fork=(value)
        @restart_after_fork = boolean(:restart_after_fork, value)
      end

      # What this app's processes do with tasks on a PostgreSQL database shared by several
      # processes (docs/processes.md). `:worker` (the default) runs handlers: it drives the
      # tasks it submits and claims those other processes left. `:client` only submits —
      # the setting for web processes when separate worker processes
      # (`bin/rails tasker_core:work`) run the handlers: it starts no handler threads or
      # Ractors whatever `workers` and `ractors` say, so one configuration serves both kinds
      # of process. `bin/rails tasker_core:work` always runs as a worker. Accepts
      # `"worker"`/`"client"` so an environment variable can be assigned as it is.
      # @param value [Symbol, String]
      def role=(value)
        value = value.strip.downcase.to_sym if value.is_a?(String)
        unless ROLES.include?(value)
          raise ConfigurationError, "config.tasker_core.role must be :worker or :client, got #{value.inspect}"
        end

        @role = value
      end

      # Use the same value in every process of the app: it is how long the others wait for a
      # silent process before taking its tasks.
      # @param value [Numeric, nil] seconds without a heartbeat after which a process is
      #   dead; nil: the engine's default (30)
      def lease_timeout=(value)
        @lease_timeout = value.nil? ? nil : number(:lease_timeout, value)
      end

      # @param value [Numeric, nil] seconds between heartbeats, below `lease_timeout`; nil:
      #   the engine's default (5)
      def heartbeat_interval=(value)
        @heartbeat_interval = value.nil? ? nil : number(:heartbeat_interval, value)
      end

      # NOTIFY wakes workers at once where it reaches them; this bounds the wait where it
      # does not (a transaction-pooling PgBouncer).
      # @param value [Numeric] longest wait, in seconds, between two looks for work
      def claim_interval=(value)
        @claim_interval = number(:claim_interval, value)
      end

      # @param value [Integer, nil] most claimed tasks a worker drives at once; nil: 25 per
      #   handler thread and Ractor
      def max_tasks=(value)
        @max_tasks = value.nil? ? nil : integer(:max_tasks, value, min: 1)
      end

      # Finished tasks (complete, cancelled, resolved_manually) older than this are deleted
      # with all their rows by the engine, in batches (see TaskerCore::Retention); tasks
      # not finished or in error never are. Also the default age of
      # `bin/rails tasker_core:cleanup`. Accepts a String so an environment variable can be
      # assigned as it is.
      # @param value [Numeric, String, nil] seconds (`7.days` works too); nil keeps every task
      def retention=(value)
        @retention = value.nil? ? nil : number(:retention, value.is_a?(Numeric) ? value.to_f : value)
      end

      # @param value [Numeric, nil] seconds between two deleting runs; nil: half of
      #   `retention`, between 0.1 and 60
      def retention_interval=(value)
        @retention_interval = value.nil? ? nil : number(:retention_interval, value.is_a?(Numeric) ? value.to_f : value)
      end

      # @param value [Integer, nil] tasks deleted per transaction; nil: 1,000
      def retention_batch=(value)
        @retention_batch = value.nil? ? nil : integer(:retention_batch, value, min: 1)
      end

      # Called with each batch of expired finished tasks (an Array of TaskerCore::Task)
      # before they are deleted, by the engine's retention and by `bin/rails
      # tasker_core:cleanup`; a batch is deleted only once it returns (see
      # TaskerCore::Retention). Needs `retention` for the engine's runs.
      # @param value [#call, nil] a Proc or an object responding to #call
      def retention_export=(value)
        unless value.nil? || value.respond_to?(:call)
          raise ConfigurationError, "config.tasker_core.retention_export must respond to #call (a Proc or an object), " \
                                    "not #{value.inspect[0, 100]}"
        end

        @retention_export = value
      end

      # Recurring tasks from cron expressions, submitted once per occurrence even by several
      # processes on one database (see TaskerCore::Schedules):
      #   config.tasker_core.schedules = { "nightly_report" => { cron: "0 2 * * *", task: "report" } }
      # @param value [Hash{String => Hash}, nil] name => { cron:, task:, namespace:, version:,
      #   context:, catch_up: }
      # @raise [ConfigurationError] naming the schedule and key at fault (the cron expression
      #   itself is checked when the engine starts)
      def schedules=(value)
        TaskerCore::Schedules.rows(value) unless value.nil?
        @schedules = value
      end

      # Caps on how many steps are out at once, per handler class, namespace or context
      # key: `{ handlers: { "PaymentHandler" => 2 }, namespaces: { "billing" => 5 },
      # keys: { "account_id" => 1 } }`. Checked here, so a bad entry fails at boot.
      # @param value [Hash, nil]
      # @raise [ConfigurationError] naming the entry at fault
      def concurrency=(value)
        @concurrency = TaskerCore::DispatchGate.concurrency(value)
      rescue ConfigurationError => e
        raise ConfigurationError, "config.tasker_core.#{e.message}"
      end

      # The engine's default step timeout: an attempt of a step whose template gives no
      # `timeout_seconds` fails with TaskerCore::TimeoutError after this long (retried by
      # the usual rules). Accepts a String so an environment variable can be assigned as it is.
      # @param value [Numeric, String, nil] seconds (`5.minutes` works too); nil: no limit
      def step_timeout=(value)
        @step_timeout = value.nil? ? nil : number(:step_timeout, value.is_a?(Numeric) ? value.to_f : value)
      end

      # Every setting and its value (the database URL's password hidden).
      # @return [Hash{Symbol => Object}]
      def to_h
        SETTINGS.to_h { |name| [name, public_send(name)] }.merge(database_url: database_url && DatabaseUrl.redact(database_url))
      end

      # Refuses assignments to unknown settings (`config.tasker_core.wrokers = 8`), naming
      # the known ones.
      def method_missing(name, *args)
        setting = name.to_s
        return super unless setting.end_with?("=") && !SETTINGS.include?(setting.delete_suffix("=").to_sym)

        raise ConfigurationError, "config.tasker_core.#{setting.delete_suffix('=')} is not a setting; " \
                                  "the settings are: #{SETTINGS.join(', ')}"
      end

      # Unknown settings do not exist (see #method_missing).
      # @return [false]
      def respond_to_missing?(_name, _include_private = false) = false

      private

      def boolean(name, value)
        value = BOOLEAN_STRINGS.fetch(value.strip.downcase) { value } if value.is_a?(String)
        return value if [true, false].include?(value)

        raise ConfigurationError, "config.tasker_core.#{name} must be true or false, got #{value.inspect}"
      end

      def integer(name, value, min:)
        value = Integer(value, exception: false) || value if value.is_a?(String)
        return value if value.is_a?(Integer) && value >= min

        raise ConfigurationError, "config.tasker_core.#{name} must be an Integer >= #{min}, got #{value.inspect}"
      end

      def number(name, value)
        value = Float(value, exception: false) || value if value.is_a?(String)
        return value if value.is_a?(Numeric) && value.positive?

        raise ConfigurationError, "config.tasker_core.#{name} must be a positive number, got #{value.inspect}"
      end

      def redacted(url)
        url.is_a?(String) ? DatabaseUrl.redact(url) : url.inspect
      end
    end
  end
end
