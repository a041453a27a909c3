# frozen_string_literal: true

module TaskerCore
  # A running engine: the Rust orchestrator on its own threads, plus (by default) a pool of
  # Ruby threads that run step handlers.
  #
  #   engine = TaskerCore::Engine.start(templates: "fixtures/templates", workers: 4)
  #   id = engine.submit_task("diamond", { "n" => 1 }, namespace: "fixtures")
  #   engine.wait_for_task(id).complete? # => true
  #   engine.stop
  #
  # Every method may be called from any thread. Calls that change something return at once;
  # waits release the GVL and can be interrupted (Thread#kill, Timeout, Ctrl-C).
  class Engine
    include Retention::EngineMethods
    include Listing::EngineMethods

    # Where tasks live when neither `database_url:` nor TASKER_DATABASE_URL says: an SQLite
    # file in the current directory.
    DEFAULT_DATABASE_FILE = "tasker_core.sqlite3"

    # @return [TaskerCore::Native::Engine] the shareable native handle
    attr_reader :native
    # @return [TaskerCore::WorkerPool, nil]
    attr_reader :pool
    # @return [TaskerCore::HandlerResolver]
    attr_reader :resolver
    # @return [String, nil] where tasks live (password removed)
    attr_reader :database_url
    # @return [TaskerCore::EventPublisher] delivers this engine's events to Ruby subscribers
    attr_reader :events

    # A URL with its passwords replaced by "***": the one in `user:password@` and any
    # password-like parameter (`password=`, `sslpassword=`, `passfile=`, …). The same
    # redaction the Rust stores use in their errors.
    # @param url [String]
    # @return [String]
    def self.redact(url) = Native.redact_url(url.to_s)

    # Starts an engine.
    # @param templates [String, Array<String>, nil] template files or directories to register
    # @param workers [Integer, nil] handler threads; 0 runs no pool (drive steps yourself);
    #   nil (the default): 4, or 0 for `role: :client`
    # @param batch_size [Integer] steps a worker takes per wait
    # @param backoff_scale [Numeric] multiplies retry delays (tests use e.g. 0.001)
    # @param environment [String, nil] applies the templates' `environments:` overrides
    # @param logger [Logger, nil] gets the engine's messages, those of its Rust threads too
    #   ({EngineLog}); without one they go to stderr
    # @param handler_lookup [#call, nil] handler class name → class (default Object.const_get)
    # @param cache_handlers [Boolean] keep handler classes after the first lookup
    # @param around_step [#call, nil] wraps each handler run; receives a block
    # @param database_url [String] where tasks live: "sqlite://path" (default: TASKER_DATABASE_URL,
    #   else ./tasker_core.sqlite3), "sqlite::memory:", "postgres://…", or "memory:" (in
    #   process, nothing survives it)
    # @param recover [Boolean] take over unfinished tasks left in the store
    # @param instrument [Boolean, :auto] re-publish events through ActiveSupport::Notifications
    #   ("step.completed.tasker_core", …); :auto does so when ActiveSupport is loaded
    # @param ractors [Integer] Ractors for `execution: ractor` steps (see {RactorPool}); 0 runs none
    # @param role [Symbol] with a PostgreSQL database shared by several processes (see
    #   docs/processes.md): :worker (default) drives the tasks it submits and, with `recover:`
    #   and handler capacity, claims tasks other processes left (a client's, a dead process's);
    #   :client (a web process) only submits: its tasks are stored for workers, and it runs no
    #   handlers
    # @param lease_timeout [Numeric] seconds without a heartbeat after which a process is dead
    #   and its tasks are taken over (PostgreSQL; default 30)
    # @param heartbeat_interval [Numeric] seconds between heartbeats (PostgreSQL; default 5)
    # @param claim_interval [Numeric] longest wait, in seconds, between two looks for work to
    #   claim (PostgreSQL workers; NOTIFY wakes them sooner; default 1); a worker that claims
    #   nothing (no `recover:` or no handler capacity) reads other processes' pauses this often
    # @param max_tasks [Integer, nil] most claimed tasks driven at once (default 25 per handler
    #   thread or Ractor)
    # @param retention [Numeric, nil] seconds a finished task is kept before it is deleted with
    #   all its rows (see {Retention}); nil (the default) keeps every task
    # @param retention_interval [Numeric, nil] seconds between two deleting runs (default half
    #   of `retention`, between 0.1 and 60)
    # @param retention_batch [Integer, nil] tasks deleted per transaction (default 1,000)
    # @param retention_export [#call, nil] called with each batch of expired tasks (an Array
    #   of {Task}) before they are deleted; deleted only once it returns (see {Retention})
    # @param schedules [Hash, nil] recurring tasks: name => { cron:, task:, namespace:,
    #   version:, context:, catch_up: } (see {Schedules}); a bad cron expression or unknown
    #   task raises {ConfigurationError} naming the schedule
    # @param concurrency [Hash, nil] caps on steps out at once (see {DispatchGate}):
    #   `{ handlers: { "PaymentHandler" => 2 }, namespaces: { "billing" => 5 }, keys: { "account_id" => 1 } }`
    # @param step_timeout [Numeric, nil] seconds an attempt of a step may run when its template
    #   gives no timeout (`timeout_seconds`); nil (the default): no limit. See README, "Step
    #   timeouts"
    # @param commit_interval [Numeric, nil] seconds the engine may hold a small batch of
    #   writes for more to join it before committing (fewer commits, more latency); nil or 0
    #   (the default): a batch commits as soon as the previous commit is done, except one
    #   nobody waits for that finishes no task, which waits up to 1 ms. A flush, a durable
    #   submission, or a read of a task this engine has not committed yet never waits for it
    # @return [Engine]
    # @raise [ConfigurationError] for a bad `concurrency` entry, naming it
    def self.start(templates: nil, workers: nil, batch_size: 16, backoff_scale: 1.0, environment: nil, logger: nil,
                   handler_lookup: nil, cache_handlers: true, around_step: nil, database_url: nil, recover: true,
                   instrument: :auto, ractors: 0, role: :worker, lease_timeout: nil, heartbeat_interval: nil,
                   claim_interval: 1.0, max_tasks: nil, retention: nil, retention_interval: nil, retention_batch: nil,
                   retention_export: nil, schedules: nil, concurrency: nil, step_timeout: nil,
                   commit_interval: nil)
      workers = role == :client ? 0 : DEFAULT_WORKERS if workers.nil?
      check_count(:workers, workers)
      check_count(:ractors, ractors)
      check_role(role, workers, ractors)
      check_count(:max_tasks, max_tasks) unless max_tasks.nil?
      Retention.check!(retention: retention, interval: retention_interval, batch: retention_batch)
      Retention.export!(:retention_export, retention_export)
      if retention_export && retention.nil?
        raise ValidationError, "retention_export needs retention: (seconds a finished task is kept)"
      end
      schedule_rows = schedules.nil? ? [] : Schedules.rows(schedules)
      concurrency = DispatchGate.concurrency(concurrency)
      Inputs.seconds(commit_interval, "commit_interval") unless commit_interval.nil?
      unless backoff_scale.is_a?(Numeric) && !backoff_scale.is_a?(Complex)
        raise ValidationError, "backoff_scale: expected a non-negative number, got #{backoff_scale.inspect}"
      end

      database_url ||= ENV.fetch("TASKER_DATABASE_URL") { "sqlite://#{File.expand_path(DEFAULT_DATABASE_FILE)}" }
      native = Native::Engine.new({ backoff_scale: Float(backoff_scale), environment: environment&.to_s,
                                    database_url: database_url.to_s, role: role.to_s,
                                    lease_timeout: lease_timeout, heartbeat_interval: heartbeat_interval,
                                    concurrency: concurrency, step_timeout: step_timeout,
                                    commit_interval: commit_interval&.to_f })
      engine = new(native, logger: logger,
                           resolver: HandlerResolver.new(cache: cache_handlers, lookup: handler_lookup),
                           around_step: around_step, database_url: Engine.redact(database_url.to_s))
      begin
        engine.instrument_with_active_support if instrument == true || (instrument == :auto && ActiveSupportBridge.available?)
        Array(templates).each { |path| engine.register_templates(path) }
        engine.recover if recover
        if retention_export
          engine.start_retention_export(keep: retention, interval: retention_interval, batch: retention_batch,
                                        export: retention_export)
        elsif !retention.nil?
          native.start_retention(Float(retention), retention_interval&.to_f, retention_batch)
        end
        native.start_schedules(schedule_rows) unless schedule_rows.empty?
        engine.start_pool(workers: workers, batch_size: batch_size) if workers.positive?
        engine.start_ractor_pool(size: ractors) if ractors.positive?
        slots = workers + ractors
        if recover && slots.positive?
          native.start_claiming(claim_interval, [max_tasks || (25 * slots), 1].max)
        else
          # Claims nothing, but takes on the pauses other processes set: its own tasks'
          # steps are handed out here too (a no-op off PostgreSQL and for a client). An
          # engine that claims nothing never checked `claim_interval`; it still does not.
          pause_poll = claim_interval.is_a?(Numeric) && claim_interval.positive? ? claim_interval : 1.0
          native.start_claiming(pause_poll, 0)
        end
      rescue StandardError
        begin
          engine.stop_retention_export
          native.stop(5)
        ensure
          engine.send(:release_log)
        end
        raise
      end
      engine
    end

    # Refuses an unknown role, and a client with handler threads or Ractors: a client's tasks
    # run in worker processes, so its pools would never get a step.
    # @param role [Object]
    # @param workers [Integer]
    # @param ractors [Integer]
    # @return [void]
    # @raise [ValidationError]
    def self.check_role(role, workers, ractors)
      unless %i[worker client].include?(role)
        raise ValidationError, "role: expected :worker or :client, got #{role.inspect[0, 100]}"
      end
      return unless role == :client && (workers + ractors).positive?

      raise ValidationError, "role: :client runs no handlers (its tasks run in worker processes): " \
                             "start it with workers: 0 and ractors: 0, got workers: #{workers}, ractors: #{ractors}"
    end
    private_class_method :check_role

    # Handler threads of a worker engine when `workers:` is not given (a client runs none).
    DEFAULT_WORKERS = 4

    # More handler threads or Ractors than this is taken for a mistake (a count computed
    # wrongly), not a wish: each one is a native thread.
    MAX_WORKERS = 10_000

    # Refuses a pool size that is not an Integer in 0..MAX_WORKERS, naming the option.
    # @param option [Symbol]
    # @param value [Object]
    # @return [void]
    # @raise [ValidationError]
    def self.check_count(option, value)
      return if value.is_a?(Integer) && value.between?(0, MAX_WORKERS)

      raise ValidationError, "#{option}: expected an Integer from 0 to #{MAX_WORKERS}, got #{value.inspect[0, 100]}"
    end
    private_class_method :check_count

    # Wraps an already started native engine; prefer {Engine.start}.
    # @param native [TaskerCore::Native::Engine]
    # @param resolver [TaskerCore::HandlerResolver]
    # @param logger [Logger, nil]
    # @param around_step [#call, nil]
    def initialize(native, resolver: HandlerResolver.new, logger: nil, around_step: nil, database_url: nil)
      @native = native
      @database_url = database_url
      @resolver = resolver
      @logger = logger
      EngineLog.attach(logger) if logger
      @runner = StepRunner.new(native, resolver, around: around_step)
      @pool = nil
      @events = EventPublisher.new(native, logger: logger)
      @task_handler_hooks = TaskHandlerHooks.new(self, ->(name) { resolver.handler_class(name) })
      @submitter = Submitter.new(native)
    end

    # Submits tasks and reads their outcome from any thread or Ractor: a deeply frozen,
    # Ractor-shareable handle (see {Submitter}).
    # @return [Submitter]
    attr_reader :submitter

    # Subscribes to this engine's events: pass an {EventSubscriber}, or patterns and a block.
    #
    #   engine.subscribe("step.failed") { |event| alert(event.context["error_message"]) }
    #   engine.subscribe(OrderMetrics.new)
    # @param subscriber_or_patterns [EventSubscriber, String] subscriber, or patterns ("*" when none)
    # @param options [Hash] capacity:, overflow:, name: for a block subscriber
    # @return [EventSubscriber] pass it to {#unsubscribe} to stop
    def subscribe(*subscriber_or_patterns, **options, &block)
      first = subscriber_or_patterns.first
      subscriber = if first.respond_to?(:call) && first.respond_to?(:patterns)
                     first
                   else
                     EventSubscriber.new(*subscriber_or_patterns, **options, &block)
                   end
      @events.subscribe(subscriber)
    end

    # Stops delivering events to `subscriber`.
    # @param subscriber [EventSubscriber]
    # @return [Boolean] whether it was subscribed
    def unsubscribe(subscriber)
      @events.unsubscribe(subscriber)
    end

    # Re-publishes every event through ActiveSupport::Notifications (see {ActiveSupportBridge}).
    # @return [ActiveSupportBridge]
    def instrument_with_active_support
      raise OrchestrationError, "ActiveSupport::Notifications is not loaded" unless ActiveSupportBridge.available?

      @active_support_bridge ||= @events.subscribe(ActiveSupportBridge.new)
    end

    # Starts the handler thread pool (once).
    # @param workers [Integer]
    # @param batch_size [Integer]
    # @return [WorkerPool]
    def start_pool(workers:, batch_size: 16)
      raise OrchestrationError, "the worker pool is already running" if @pool

      @pool = WorkerPool.new(@native, @runner, size: workers, batch_size: batch_size, logger: @logger).start
      @native.add_capacity(workers)
      @pool
    end

    # Starts a {RactorPool} for `execution: ractor` steps (once).
    # @param size [Integer] Ractors
    # @param batch_size [Integer]
    # @return [RactorPool]
    def start_ractor_pool(size:, batch_size: 4)
      raise OrchestrationError, "the Ractor pool is already running" if @ractor_pool

      @ractor_pool = RactorPool.new(self, size: size, batch_size: batch_size, logger: @logger).start
      @native.add_capacity(size)
      @ractor_pool
    end

    # @return [RactorPool, nil]
    attr_reader :ractor_pool

    # Registers every template in a file or directory; all or none. A step without
    # `execution:` runs where its handler class declares ({BaseStepHandler.execution}), else
    # where the template says. The handler class of every step that will run in a Ractor is
    # checked first ({RactorSafety}).
    # @param path [String, Pathname]
    # @return [Array<String>] the keys registered ("namespace/name@version")
    # @raise [ValidationError] for a bad template (a file that is not UTF-8: naming the file
    #   and the byte offset of its first bad byte), a handler that cannot run in a Ractor, or
    #   a path that is not a UTF-8 String without NUL bytes
    def register_templates(path)
      path = File.expand_path(Inputs.path(path, "template path"))
      # Each call hands what it read, parsed and compiled to the next (one read, one parse
      # and one compile per file).
      declare_handler_executions(@native.undeclared_handlers_in(path, nil))
      check_ractor_handlers(@native.ractor_steps_in(path, nil))
      resuming_awaiting { @native.register_templates(path) }
    ensure
      # A check that refused the templates leaves what the native side parsed for them.
      @native.forget_checked_template
    end

    # Registers one template from YAML text (checked as {#register_templates} does).
    # @param yaml [String] UTF-8 (or binary holding UTF-8, or any encoding Ruby can
    #   transcode to UTF-8)
    # @param source [String] names the template in error messages
    # @return [Array<String>]
    # @raise [ValidationError] for a bad template, text that is not UTF-8 (the message names
    #   `source` and the byte offset of the first bad byte), or a yaml that is not a String
    def register_template(yaml, source: "<string>")
      yaml, source = @native.template_input(yaml, source)
      declare_handler_executions(@native.undeclared_handlers_in(source, yaml))
      check_ractor_handlers(@native.ractor_steps_in(source, yaml))
      resuming_awaiting { @native.register_template_yaml(yaml, source) }
    ensure
      # A check that refused the template leaves what the native side parsed for it.
      @native.forget_checked_template
    end

    # The shape of a registered template's workflow.
    # @param name [String]
    # @param namespace [String, nil]
    # @param version [String, nil]
    # @return [TemplateGraphAnalyzer]
    # @raise [ValidationError] when no such template is registered
    def template_graph(name, namespace: nil, version: nil)
      name = Inputs.name(name.to_s, "template name")
      namespace = Inputs.name(namespace, "namespace") unless namespace.nil?
      version = Inputs.name(version, "version") unless version.nil?
      TemplateGraphAnalyzer.new(@native.template_graph(name, namespace, version))
    end

    # Whether this process is a fork of the one that started the engine: it cannot be used
    # here; see {TaskerCore.after_fork}.
    # @return [Boolean]
    def forked?
      @native.forked?
    end

    # A one-line summary; the default would print the pools, their threads and the logger.
    # @return [String]
    def inspect
      "#<#{self.class.name} #{@database_url || 'memory:'}, #{@pool ? @pool.size : 0} worker threads" \
        "#{stopped? ? ', stopped' : ''}>"
    end

    # Descriptions of every registered template (name, namespace, version, source, steps...).
    # @return [Array<Hash>]
    def templates
      @native.template_keys.map do |key|
        namespace, rest = key.split("/", 2)
        name, version = rest.split("@", 2)
        @native.template_info(name, namespace, version)
      end
    end

    # Validates and submits a task; returns its id at once. The context is checked against
    # the template's schema; a rejected submission creates nothing.
    #
    # By default the task is stored with the engine's next group commit, a moment later: a
    # crash in between loses it. With `durable: true` (or a timeout in seconds) the call
    # returns only once the task's creation is committed (the GVL is released meanwhile), so
    # a caller can acknowledge its own request knowing the work survives a crash.
    # @param name [String] the template's name
    # @param context [Hash] the task's context
    # @param namespace [String, nil] needed when the name exists in several namespaces
    # @param version [String, nil] defaults to the highest registered version
    # @param durable [Boolean, Numeric] wait for the commit (true: up to 10 s)
    # @param identity [Symbol, String, Hash, nil] submit once per identity, as {#submit_once}
    #   does (a repeat returns the existing task's id; the call waits for the commit)
    # @param run_at [Time, nil] the task is stored now, and no step starts before this time
    #   (also after a restart; see {Schedules})
    # @param delay [Numeric, nil] or: no step starts before this many seconds from now
    # @param priority [Integer, nil] higher first when steps wait for workers (default 0;
    #   aging: +1 per second waited); kept for the live task only
    # @return [Integer] the task id
    # @raise [DatabaseError] with `durable`, when the transaction storing the task failed
    # @raise [TimeoutError] with `durable`, when the commit took longer (it may still land)
    # @raise [ValidationError] for run_at and delay both given, a negative delay, a run_at not a Time
    def submit_task(name, context = {}, namespace: nil, version: nil, initiator: nil, source_system: nil,
                    reason: nil, tags: nil, durable: false, identity: nil, run_at: nil, delay: nil, priority: nil)
      # The common call goes straight to the native submit (as Submitter#submit_task would):
      # no second call with eight keywords, no options Struct (together about a quarter of
      # the instructions a submit cost, benches/submit_instructions.rb). The native side
      # converts the names with to_s as below, and declines (nil, nothing created) a
      # template whose task handler class may have a submit hook: only then does Ruby look
      # the template up (a fifth of the instructions, when it did so for every call).
      if initiator.nil? && source_system.nil? && reason.nil? && tags.nil? && !durable && identity.nil? &&
         run_at.nil? && delay.nil? && priority.nil?
        return @native.submit_common(name, context, namespace, version) ||
               submit_with_hooks(name.to_s, context, namespace&.to_s, version&.to_s)
      end

      name = name.to_s
      namespace = namespace&.to_s
      version = version&.to_s
      context = @task_handler_hooks.before_submit(name, namespace, version, context)
      @submitter.submit_task(name, context, namespace: namespace, version: version, initiator: initiator,
                                            source_system: source_system, reason: reason, tags: tags, durable: durable,
                                            identity: identity, run_at: run_at, delay: delay, priority: priority)
    rescue EncodingError => e
      # A name that is not UTF-8 text, found by the native layer (a good call pays nothing).
      # The common call hands the names over as given: each is explained as its text.
      raise Inputs.explain_encoding(e, "submit_task name" => name.to_s, "namespace" => namespace&.to_s,
                                       "version" => version&.to_s)
    end

    # Submits a task unless one with the same identity exists, and says which happened.
    # Tasker's identity strategies (see {Identity}): `:default` (template, context,
    # initiator, source_system and reason), `{ key: "..." }` (`caller_provided`: an
    # idempotency key) or `:always_unique`; a Hash may add `window:` seconds. The same
    # identity submitted again - sequentially, from several threads at once, or from
    # several processes on one PostgreSQL database - yields one task: a repeat gets the
    # existing task's id with `created?` false. The call waits (GVL released) until the
    # task's creation is committed, so a repeat always finds it.
    #
    #   s = engine.submit_once("fulfil_order", { "order_id" => 42 }, identity: { key: "order-42" })
    #   s.created? # => true, then false for every repeat
    # @param identity [Symbol, String, Hash]
    # @param durable [Boolean, Numeric] how long to wait for the commit (true: 10 s)
    # @return [Submission]
    # @raise [ValidationError] for an unknown strategy, a caller_provided without a key, a bad window
    # @raise [TimeoutError] when the commit took longer (it may still land)
    # @param run_at [Time, nil] as for {#submit_task}
    # @param delay [Numeric, nil] as for {#submit_task}
    # @param priority [Integer, nil] as for {#submit_task} (a new task's; a repeat changes nothing)
    def submit_once(name, context = {}, identity: :default, namespace: nil, version: nil, initiator: nil,
                    source_system: nil, reason: nil, tags: nil, durable: true, run_at: nil, delay: nil, priority: nil)
      name = name.to_s
      namespace = namespace&.to_s
      version = version&.to_s
      context = @task_handler_hooks.before_submit(name, namespace, version, context)
      @submitter.submit_once(name, context, identity: identity, namespace: namespace, version: version,
                                            initiator: initiator, source_system: source_system, reason: reason,
                                            tags: tags, durable: durable, run_at: run_at, delay: delay,
                                            priority: priority)
    end

    # Creates a task without starting it (pending), for {WorkflowCoordinator}.
    # @param durable [Boolean, Numeric] as for {#submit_task}
    # @param run_at [Time, nil] once started, no step starts before this time
    # @param delay [Numeric, nil] or: seconds from now
    # @return [Integer] the task id
    def create_task(name, context = {}, namespace: nil, version: nil, initiator: nil, source_system: nil,
                    reason: nil, tags: nil, durable: false, run_at: nil, delay: nil)
      name = name.to_s
      namespace = namespace&.to_s
      version = version&.to_s
      context = @task_handler_hooks.before_submit(name, namespace, version, context)
      @submitter.create_task(name, context, namespace: namespace, version: version, initiator: initiator,
                                            source_system: source_system, reason: reason, tags: tags, durable: durable,
                                            run_at: run_at, delay: delay)
    rescue EncodingError => e
      raise Inputs.explain_encoding(e, "create_task name" => name, "namespace" => namespace, "version" => version)
    end

    # Waits until the task ends (GVL released) and returns its result; `:reenqueue` when
    # it did not end within `timeout` seconds (or TimeoutError with `raise_on_timeout`).
    # @param task_id [Integer]
    # @param timeout [Numeric]
    # @param raise_on_timeout [Boolean]
    # @return [TaskResult]
    # @raise [TimeoutError] when `raise_on_timeout` and the task did not end in time
    def wait_for_task(task_id, timeout: 60, raise_on_timeout: false)
      @submitter.wait_for_task(task_id, timeout: timeout, raise_on_timeout: raise_on_timeout)
    end

    # The task's result as it stands now.
    # @param task_id [Integer]
    # @return [TaskResult]
    # @raise [ValidationError] when there is no such task
    def task_result(task_id)
      @submitter.task_result(task_id)
    end

    # The task's current state, read cheaply (see {Submitter#task_state}).
    # @param task_id [Integer]
    # @return [String, nil]
    def task_state(task_id)
      @submitter.task_state(task_id)
    end

    # The task as stored, for inspection and manual operations.
    # @param task_id [Integer]
    # @return [Task]
    # @raise [ValidationError] when there is no such task
    def task(task_id)
      Task.new(self, task_hash(task_id))
    end

    # Takes over unfinished tasks left in the store (by a previous process); {Engine.start}
    # does this after registering the templates it was given. A task whose template is not
    # registered yet is claimed, logged, listed under `skipped:`, and resumed as soon as
    # its template is registered ({#register_templates}), so starting first and
    # registering afterwards loses nothing. A task whose stored rows cannot be read (JSON
    # another tool or an older version wrote) is logged and listed under `skipped:` with
    # why, and the others resume.
    # @return [Hash] resumed: (count), task_ids: (resumed), owned_elsewhere:, skipped: [[task_id, why], ...]
    def recover(timeout: 30)
      report = @native.recover(timeout)
      unless report[:skipped].empty?
        awaiting = @native.awaiting_templates
        waiting = awaiting.values.flatten.to_h { |id| [id, true] }
        report[:skipped].each do |task_id, why|
          log(:error, "tasker-core: task #{task_id} was not resumed: #{why}") unless waiting.key?(task_id)
        end
        awaiting.each do |key, ids|
          shown = ids.first(20).join(", ")
          shown += " and #{ids.size - 20} more" if ids.size > 20
          log(:warn, "tasker-core: #{ids.size} unfinished task(s) wait for template #{key} to be registered " \
                     "(task ids #{shown}); they resume when it is")
        end
      end
      report
    end

    # Unfinished tasks that {#recover} claimed and that wait for their template to be
    # registered, by template key.
    # @return [Hash{String => Array<Integer>}] "namespace/name@version" => task ids
    def awaiting_templates
      @native.awaiting_templates
    end

    # Pauses a namespace, or one template in it: from now on their new steps wait (held by
    # the engine, occupying no worker) until {#resume}; steps already running finish.
    # Steps queued for workers and not yet taken wait too. On PostgreSQL the pause is
    # stored for every engine process on the database (each worker follows it before its
    # next claim) and stays until resumed, even if this process ends; on SQLite and
    # `memory:` it is this engine's.
    #   engine.pause(namespace: "billing")
    #   engine.pause(template: "order", namespace: "shop")
    # @param namespace [String, Symbol]
    # @param template [String, Symbol, nil] a template name; nil pauses the whole namespace
    # @return [Array<Hash>] what is paused now, as {#paused} gives it
    # @raise [ValidationError] when no registered template has that namespace (or name)
    def pause(namespace:, template: nil)
      paused_list(@native.pause(namespace.to_s, template&.to_s, 10))
    end

    # Resumes what {#pause} paused (the same namespace and template): its waiting steps go
    # out, by priority. Resuming what is not paused changes nothing.
    # @param namespace [String, Symbol]
    # @param template [String, Symbol, nil]
    # @return [Array<Hash>] what is still paused
    def resume(namespace:, template: nil)
      paused_list(@native.resume(namespace.to_s, template&.to_s, 10))
    end

    # What is paused: `[{ namespace: "billing", template: nil }, …]` (on PostgreSQL, read
    # from the database: every process's pauses).
    # @return [Array<Hash>]
    def paused
      paused_list(@native.paused(10))
    end

    # The task as stored (state, steps, transitions), as a Hash.
    # @param task_id [Integer]
    # @return [Hash]
    # @raise [ValidationError] when there is no such task
    def task_hash(task_id)
      @native.task(task_id) || raise(ValidationError, "task #{task_id}: no such task in this engine's store")
    end

    # Most steps one {#take_steps} call takes.
    MAX_TAKE = 100_000

    # Takes up to `max` ready steps, waiting up to `timeout` seconds for the first (for
    # engines started with `workers: 0`). Report each with {#complete_step} or {#fail_step}.
    # @param max [Integer] 1 to {MAX_TAKE}
    # @param timeout [Numeric] seconds
    # @return [Array<TaskerCore::Native::ReadyStep>]
    def take_steps(max: 16, timeout: 0)
      @native.take_steps(Inputs.integer(max, "take_steps max", 1..MAX_TAKE), timeout)
    end

    # @!method next_steps(max: 16, timeout: 0)
    #   The older name of {#take_steps}, kept for the code that calls it.
    #   @return [Array<TaskerCore::Native::ReadyStep>]
    alias next_steps take_steps

    # Reports a step's success (non-blocking).
    # @param step_id [Integer]
    # @param results [Object] JSON-compatible
    # @return [void]
    def complete_step(step_id, results = nil)
      @native.complete_step(step_id, results)
    end

    # Reports a step's failure (non-blocking). `error_class` and `message` are recorded as
    # UTF-8, bytes that are not replaced by U+FFFD ({Inputs.text}): a failure is never
    # refused for its text.
    # @param step_id [Integer]
    # @param error_class [String]
    # @param message [String]
    # @param retryable [Boolean] false: not retried
    # @param retry_after [Numeric, nil] seconds to wait before the retry
    # @param details [Hash, nil] kept with the attempt and in the `step.failed` event
    #   (e.g. `{"error_code" => "PAYMENT_DECLINED"}`)
    # @return [void]
    def fail_step(step_id, error_class:, message:, retryable: true, retry_after: nil, details: nil)
      @native.fail_step(step_id, Inputs.text(error_class), Inputs.text(message), retryable, retry_after, details)
    end

    # Counters (tasks and steps by outcome, store batches), gauges (steps in flight and
    # queued, `steps_per_second` over the last full second, `uptime_seconds`) and, under
    # `:latency`, per operation `{count:, mean_us:, p50_us:, p99_us:}` for `submit`,
    # `drain`, `complete`, `fail` (calls from Ruby, conversions included), `readiness`
    # (the engine applying a step's report and dispatching what became ready) and
    # `store_commit` (one batch's transaction, committed or refused). Quantiles
    # are histogram-bucket estimates, within a factor of √2.
    # @return [Hash{Symbol => Numeric, Hash}]
    def stats
      @native.stats
    end

    # What each recurring schedule did so far in this engine (see {Schedules}): per
    # schedule `{name:, cron:, created:, existing:, failed:, last_occurrence:,
    # next_occurrence:, last_error:}`; `existing` counts occurrences another engine (or an
    # earlier run) had submitted already. Empty without `schedules:`.
    # @return [Array<Hash{Symbol => Object}>]
    def schedules
      @native.schedule_stats
    end

    # The same numbers in the Prometheus text format (counters as `tasker_core_*_total`,
    # latencies as `tasker_core_*_duration_seconds` histograms), for a `/metrics` endpoint.
    # @return [String]
    def metrics_text
      @native.metrics_text
    end

    # Returns once every change made so far is applied by the store.
    # @return [void]
    def flush(timeout: 10)
      @native.flush(timeout)
    end

    # Stops gracefully: the pool stops taking steps and running handlers get up to
    # `timeout` seconds; then the engine takes back every step still handed out (queued ones
    # return to pending, unfinished ones are marked to run again), writes its last changes
    # and joins its threads.
    # @param timeout [Numeric] seconds
    # @return [Integer] steps taken back
    def stop(timeout: 30)
      Inputs.seconds(timeout, "stop timeout")
      return 0 if forked? # the parent's engine: nothing of it runs here

      # One deadline for the handlers, shared by both pools (each had its own before, so
      # a stuck thread pool and a stuck Ractor pool could add up). The engine's own flush
      # and the subscribers' last deliveries are bounded apart, so a slow stop is always
      # one of these phases, and the log says which.
      deadline = monotonic + timeout
      phases = {}
      # No more work claimed from other processes while the pools drain: it would only be
      # handed back.
      @native.stop_claiming
      timed(phases, :retention_export) { stop_retention_export }
      timed(phases, :handler_threads) { @pool&.stop(timeout: timeout) }
      timed(phases, :ractors) { @ractor_pool&.stop(timeout: [deadline - monotonic, 0].max) }
      taken_back = timed(phases, :engine) { @native.stop([timeout, 5].max) }
      # After the engine's last commit: subscribers get what it announced.
      timed(phases, :event_subscribers) { @events.stop(timeout: [timeout, 5].min) }
      report_slow_stop(phases)
      taken_back
    end

    # Stops (if running) and closes the store: database connections and task claims are
    # released. After {#stop} alone the store stays open so tasks can still be read.
    # @param timeout [Numeric] seconds
    # @return [Integer] steps taken back
    def close(timeout: 30)
      Inputs.seconds(timeout, "close timeout") # refused before anything stops
      begin
        stopped? ? 0 : stop(timeout: timeout)
      ensure
        # Even when stop raised (its last flush timed out, say), the store's connections and
        # threads are released now rather than at exit.
        begin
          @native.close([timeout, 5].max) unless forked?
        ensure
          release_log # after the store's last words (a connection still in use at close)
        end
      end
    end

    # @return [Boolean]
    def stopped?
      @native.stopped?
    end

    private

    # Stops writing the engine threads' messages to this engine's logger ({EngineLog}), once;
    # in a forked child the parent's engine attached nothing here.
    def release_log
      return if @log_detached || @logger.nil?

      @log_detached = true # first: a close tried again must not detach twice
      EngineLog.detach(@logger) unless forked?
    end

    # A stop phase longer than this is logged with what it waited for.
    SLOW_STOP_PHASE = 1.0

    def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)

    def paused_list(pairs) = pairs.map { |namespace, template| { namespace: namespace, template: template } }

    def timed(phases, name)
      started = monotonic
      yield
    ensure
      phases[name] = monotonic - started
    end

    # Names the phases of a slow stop, and the handlers still running when the pool gave
    # up on them, so a stop that waited for its deadline can be traced to its cause.
    def report_slow_stop(phases)
      slow = phases.select { |_, seconds| seconds > SLOW_STOP_PHASE }
      return if slow.empty?

      detail = slow.map { |name, seconds| format("%s %.2f s", name.to_s.tr("_", " "), seconds) }.join(", ")
      stuck = @pool ? @pool.last_stop_stragglers : []
      detail += "; still running at the deadline: #{stuck.join(', ')}" if stuck.any?
      log(:warn, "tasker-core: stop was slow: #{detail}")
    end

    # The common submit of a template whose task handler class may define a submit hook:
    # runs it, or tells the native engine there is none, so its next submissions skip this.
    def submit_with_hooks(name, context, namespace, version)
      # Read before looking at the class: a registration meanwhile voids the answer.
      epoch = @native.caller_hooks_epoch
      context = @task_handler_hooks.before_submit(name, namespace, version, context) do
        @native.submit_hooks_absent(name, namespace, version, epoch)
      end
      @native.submit_in(name, context, namespace, version)
    end

    # Registers (the block), then logs the tasks that registration resumed.
    def resuming_awaiting
      before = @native.awaiting_templates
      keys = yield
      @task_handler_hooks.reset
      unless before.empty?
        after = @native.awaiting_templates
        before.each do |key, ids|
          resumed = ids - after.fetch(key, [])
          log(:info, "tasker-core: resumed #{resumed.size} unfinished task(s) of #{key} now that it is registered") if resumed.any?
        end
      end
      keys
    end

    # Logs through the engine's logger; without one, warnings go to stderr (a stuck task
    # must not go unreported) and the rest is dropped.
    def log(level, message)
      if @logger
        @logger.public_send(level, message)
      elsif level == :warn || level == :error
        Kernel.warn(message)
      end
    end

    # Tells the engine where the handler classes that declare it (`execution :ractor`) run.
    # A class that is not loadable yet declares nothing: its steps follow the template.
    def declare_handler_executions(handler_classes)
      handler_classes.each do |name|
        klass = begin
          @resolver.handler_class(name)
        rescue HandlerNotFoundError
          next
        end
        kind = klass.respond_to?(:execution) ? klass.execution : nil
        @native.declare_handler_execution(name, kind.to_s) if kind
      end
    end

    def check_ractor_handlers(steps)
      steps.each { |handler_class, where| RactorSafety.check!(handler_class, where) }
    end

  end
end
