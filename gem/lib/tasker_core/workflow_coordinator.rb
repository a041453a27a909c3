# frozen_string_literal: true

require "uri"

module TaskerCore
  # Drives one task to its end on the calling thread, running its steps with a callback of
  # your choosing (the seed's API; Tasker's coordinator shape).
  #
  #   id = engine.create_task("fulfil_order", { "order_id" => 1 }, namespace: "shop")
  #   result = TaskerCore::WorkflowCoordinator.new(engine).execute_task_workflow(id) do |config|
  #     config.on_step_execute = ->(step) { MyHandler.new.process(step.context) }
  #     config.max_parallel_steps = 10
  #   end
  #   result.complete?
  #
  # Two ways to make one: with an engine (default: the process-wide {TaskerCore.engine}),
  # or with a database URL, as the plan's Rails `PerformanceCoordinator` does
  # (`WorkflowCoordinator.new(ActiveRecord::Base.connection_db_config.url)`): the
  # process-wide engine is used when it serves that database; otherwise the coordinator
  # starts an engine of its own there (no worker threads, no recovery, the templates
  # {TaskerCore.start} was given unless `templates:` says), and {#stop} stops it.
  #
  # The task must be pending (created with {Engine#create_task}); its steps then go only to
  # this coordinator, not to the engine's worker pool.
  class WorkflowCoordinator
    # Options for one execution.
    Config = Struct.new(:on_step_execute, :max_parallel_steps, :timeout, keyword_init: true)

    # @return [TaskerCore::Engine] the engine that drives the tasks
    attr_reader :engine

    # @param url_or_engine [TaskerCore::Engine, String, nil] an engine, or a database URL
    #   (nil: the process-wide engine)
    # @param templates [String, Array<String>, nil] for an engine this coordinator starts
    # @raise [OrchestrationError] when no engine is given and none is started
    # @raise [DatabaseError] when the URL's database cannot be opened (the message shows
    #   the URL with its password hidden)
    def initialize(url_or_engine = TaskerCore.engine, templates: nil)
      @engine, @owned = engine_for(url_or_engine, templates)
      @routes = {}
      @mutex = Mutex.new
    end

    # Whether this coordinator started its engine (and {#stop} stops it).
    # @return [Boolean]
    def owns_engine? = @owned

    # Stops and closes the engine this coordinator started; does nothing to an engine it
    # was given or shares.
    # @param timeout [Numeric] seconds
    # @return [void]
    def stop(timeout: 30)
      @engine.close(timeout: timeout) if @owned
    end

    # Runs the task until it ends. With `config.timeout` (seconds) it returns a
    # `:reenqueue` result when the task has not ended by then; calling again resumes.
    # @param task_id [Integer]
    # @yieldparam config [Config]
    # @return [TaskResult]
    def execute_task_workflow(task_id)
      config = Config.new(on_step_execute: nil, max_parallel_steps: 4, timeout: nil)
      yield config if block_given?
      unless config.max_parallel_steps.is_a?(Integer) && config.max_parallel_steps.positive?
        raise ValidationError, "max_parallel_steps: must be a positive Integer, got #{config.max_parallel_steps.inspect}"
      end

      route = route_for(task_id, config.max_parallel_steps)
      runner = StepRunner.new(@engine.native, @engine.resolver, executor: config.on_step_execute)
      finished = drive(route, runner, config)
      @mutex.synchronize { @routes.delete(task_id) } if finished
      @engine.flush
      @engine.task_result(task_id)
    end

    private

    def engine_for(url_or_engine, templates)
      case url_or_engine
      when Engine then [url_or_engine, false]
      when nil
        raise OrchestrationError, "WorkflowCoordinator: no engine (start one with TaskerCore.start, or pass a database URL)"
      when String, URI::Generic
        url = url_or_engine.to_s
        shared = TaskerCore.engine
        return [shared, false] if shared && !shared.stopped? && same_database?(shared.database_url, url)

        options = (TaskerCore.start_options || {}).merge(database_url: url, workers: 0, ractors: 0, recover: false)
        options[:templates] = templates if templates
        [Engine.start(**options), true]
      else
        raise ValidationError, "WorkflowCoordinator.new: expected an Engine or a database URL, got #{url_or_engine.class}"
      end
    end

    # Whether two URLs name one database (passwords aside; postgresql: is postgres:).
    def same_database?(engine_url, url)
      normalize = ->(u) { Engine.redact(u.to_s).sub(/\Apostgresql:/, "postgres:").sub(%r{/\z}, "") }
      normalize.call(engine_url) == normalize.call(url)
    end

    # The engine holds max_parallel_steps across the coordinator's threads and the Ractor
    # pool (Ractor steps of the task run there, not on the coordinator's threads).
    def route_for(task_id, max_parallel)
      @mutex.synchronize do
        @routes[task_id] ||= @engine.native.start_task(task_id, true, max_parallel, 10)
      end
    end

    # Drains the route on this thread and runs steps on up to max_parallel_steps threads.
    # Returns true when the task ended, false when the timeout came first. On a timeout the
    # steps already running are left to finish on their threads (they report to the engine
    # as usual) so the caller gets its answer at the deadline.
    def drive(route, runner, config)
      deadline = config.timeout && (monotonic + config.timeout)
      queue = Thread::Queue.new
      threads = Array.new(config.max_parallel_steps) do |i|
        Thread.new do
          Thread.current.name = "tasker-coordinator-#{i}"
          while (ready = queue.pop)
            begin
              runner.run(ready)
            rescue *StepRunner::FATAL
              nil # already reported as the step's failure; this thread keeps serving the task
            end
          end
        end
      end
      finished = false
      loop do
        wait = deadline ? [deadline - monotonic, 0].max : 0.1
        break if deadline && wait.zero?

        steps, final_state = route.next(config.max_parallel_steps, [wait, 0.1].min)
        steps.each { |s| queue << s }
        if final_state
          finished = true
          break
        end
      end
      finished
    ensure
      queue&.close
      threads&.each(&:join) if finished
    end

    def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end
end
