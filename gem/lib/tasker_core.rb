# frozen_string_literal: true

# tasker-core: Tasker workflows orchestrated by a Rust engine, with Ruby step handlers.
#
#   engine = TaskerCore::Engine.start(templates: "config/tasker/tasks", workers: 4)
#   task_id = engine.submit_task("fulfil_order", { order_id: 42 }, namespace: "shop")
#   result = engine.wait_for_task(task_id, timeout: 30)
#   result.complete? # => true
#   engine.stop
module TaskerCore
  # Loaded on first use: it needs ActiveSupport.
  autoload :LogSubscriber, File.expand_path("tasker_core/log_subscriber", __dir__)
  # Loaded on first use: it needs Rack, and most processes never serve the dashboard. So
  # `TaskerCore::Web.authorize = …` in an initializer works before config/routes.rb
  # requires "tasker_core/web" (initializers run first).
  autoload :Web, File.expand_path("tasker_core/web", __dir__)

  class << self
    # The engine started by {TaskerCore.start}, if any.
    # @return [TaskerCore::Engine, nil]
    attr_reader :engine

    # The options {TaskerCore.start} was last given (nil before it), for engines that must
    # match the process-wide one (a {WorkflowCoordinator} for another database).
    # @return [Hash, nil]
    attr_reader :start_options

    # Starts the process-wide engine (see {Engine.start} for the options).
    # @return [TaskerCore::Engine]
    def start(**options)
      raise OrchestrationError, "TaskerCore is already started; call TaskerCore.stop first" if @engine && !@engine.stopped?

      @start_options = options
      @engine = Engine.start(**options)
      SharedEngine.publish(@engine.submitter)
      @engine
    end

    # In a child process after `fork` (Puma, Unicorn and Sidekiq preload an app, then fork):
    # forgets the engine inherited from the parent, which cannot run here, and starts a
    # fresh one with the options {start} was given (merged with `overrides`).
    #
    #   on_worker_boot { TaskerCore.after_fork } # config/puma.rb
    # @return [TaskerCore::Engine]
    def after_fork(**overrides)
      raise OrchestrationError, "TaskerCore.after_fork: TaskerCore.start was never called in the parent" unless @start_options

      @engine = nil # the parent's engine; its threads are not in this process
      SharedEngine.publish(nil)
      @engine = Engine.start(**@start_options, **overrides)
      SharedEngine.publish(@engine.submitter)
      @engine
    end

    # Stops the process-wide engine, if one runs.
    # @return [void]
    def stop(timeout: 30)
      SharedEngine.publish(nil)
      @engine&.close(timeout: timeout)
      @engine = nil
    end

    # Submits a task to the process-wide engine; returns its id at once. Works in any
    # Ractor: outside the main one it goes through the engine's {Submitter}.
    # @return [Integer]
    # @raise [OrchestrationError] when no engine is started
    def submit(name, context = {}, **options)
      return submitter.submit_task(name, context, **options) unless RactorShim.main?
      raise OrchestrationError, "TaskerCore is not started; call TaskerCore.start" unless @engine

      @engine.submit_task(name, context, **options)
    end

    # The process-wide engine's {Submitter}: Ractor-shareable, usable from any Ractor or
    # thread.
    # @return [Submitter]
    # @raise [OrchestrationError] when no engine is started (in the main Ractor)
    def submitter
      if RactorShim.main?
        raise OrchestrationError, "TaskerCore is not started; call TaskerCore.start" unless @engine

        return @engine.submitter
      end
      SharedEngine.submitter ||
        raise(OrchestrationError, "TaskerCore.submit in a Ractor: no engine is started; call TaskerCore.start in the " \
                                  "main Ractor first, or pass engine.submitter into the Ractor (Ractor.new(engine.submitter) { ... })")
    end
  end

  # The process-wide engine's {Submitter}, where every Ractor can read it: a constant
  # holding a shareable object (module instance variables are readable only in the main
  # Ractor). Replaced by {TaskerCore.start}, {TaskerCore.after_fork} and {TaskerCore.stop}.
  module SharedEngine
    module_function

    # Makes `submitter` (or nil) the one Ractors see. Main Ractor only.
    # @param submitter [Submitter, nil]
    # @return [void]
    def publish(submitter)
      remove_const(:CURRENT) if const_defined?(:CURRENT, false)
      const_set(:CURRENT, submitter)
    end

    # @return [Submitter, nil]
    def submitter
      const_defined?(:CURRENT, false) ? const_get(:CURRENT, false) : nil
    rescue NameError
      nil # replaced while read
    end
  end
end

require_relative "tasker_core/version"
require_relative "tasker_core/errors"
require_relative "tasker_core/inputs"
require_relative "tasker_core/failure"
require_relative "tasker_core/tasker_core_ext"
require_relative "tasker_core/native_options"
require_relative "tasker_core/dispatch_gate"
require_relative "tasker_core/task_context"
require_relative "tasker_core/step_context"
require_relative "tasker_core/base_step_handler"
require_relative "tasker_core/base_task_handler"
require_relative "tasker_core/legacy_handler_adapter"
require_relative "tasker_core/task_handler_hooks"
require_relative "tasker_core/handler_resolver"
require_relative "tasker_core/step_runner"
require_relative "tasker_core/submission"
require_relative "tasker_core/submitter"
require_relative "tasker_core/step_watchdog"
require_relative "tasker_core/worker_pool"
require_relative "tasker_core/ractor_shim"
require_relative "tasker_core/ractor_safety"
require_relative "tasker_core/ractor_pool"
require_relative "tasker_core/step_result"
require_relative "tasker_core/task_result"
require_relative "tasker_core/viable_step"
require_relative "tasker_core/event"
require_relative "tasker_core/event_subscriber"
require_relative "tasker_core/event_publisher"
require_relative "tasker_core/engine_log"
require_relative "tasker_core/active_support_bridge"
require_relative "tasker_core/transition"
require_relative "tasker_core/execution_attempt"
require_relative "tasker_core/step"
require_relative "tasker_core/template_graph_analyzer"
require_relative "tasker_core/runtime_graph_analyzer"
require_relative "tasker_core/task"
require_relative "tasker_core/retention"
require_relative "tasker_core/listing"
require_relative "tasker_core/schedules"
require_relative "tasker_core/engine"
require_relative "tasker_core/workflow_coordinator"
require_relative "tasker_core/insights"
# Deferred: it loads ActiveJob, which only apps that submit through jobs need.
TaskerCore.autoload :SubmitTaskJob, File.expand_path("tasker_core/submit_task_job", __dir__)
require_relative "tasker_core/railtie" if defined?(Rails::Railtie)
