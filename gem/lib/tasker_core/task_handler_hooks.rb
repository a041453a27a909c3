# frozen_string_literal: true

module TaskerCore
  # Calls the hooks of a template's task handler class (`task_handler_class`, inside
  # `module_namespace`), for handlers written for the Tasker engine:
  # - `establish_step_dependencies_and_defaults(task, steps)` when a task is submitted,
  #   before it is stored; what it changes in `task.context` is what gets stored;
  # - `update_annotations(task, sequence, steps)` once the task has ended (complete or
  #   error), on the engine's event thread, with every step as stored.
  # A class is looked at once per template (again after any registration). A class found
  # without either hook is reported to the native engine (the block of #before_submit), whose
  # common submit then skips Ruby for that template; one not found, or with a hook, keeps
  # coming here: one Hash lookup per submission.
  class TaskHandlerHooks
    # The hooks a task handler class may define.
    HOOKS = %i[establish_step_dependencies_and_defaults update_annotations].freeze

    # @param engine [TaskerCore::Engine]
    # @param lookup [#call] class name → class (the engine's handler lookup)
    def initialize(engine, lookup)
      @engine = engine
      @lookup = lookup
      @by_template = {}
      @mutex = Mutex.new
      @subscribed = false
    end

    # Forgets what was learnt about templates (after a registration).
    # @return [void]
    def reset
      @mutex.synchronize { @by_template.clear }
      # After the cache is emptied: an answer given from the old cache carries the old epoch.
      @engine.native.forget_submit_hooks
    end

    # Runs `establish_step_dependencies_and_defaults` for a submission, if the template's
    # task handler defines it; returns the context to store.
    # @param name [String]
    # @param namespace [String, nil]
    # @param version [String, nil]
    # @param context [Hash]
    # @yield when the template's class was found and defines neither hook (or it has no
    #   class), so a caller can remember that without a second lookup; never for a class
    #   not found (it may be defined later) or one with `update_annotations` (whose
    #   submissions must keep coming here: #annotate finds the class in this cache)
    # @return [Hash]
    def before_submit(name, namespace, version, context)
      entry = entry_for(name, namespace, version)
      unless entry.is_a?(Hash) && entry[:establish]
        yield if entry == false && block_given?
        return context
      end

      info = entry[:info]
      task = LegacyHandlerAdapter::TaskView.new(task_id: nil, name: info["name"], namespace: info["namespace"],
                                                version: info["version"], context: context.is_a?(Hash) ? context.dup : context)
      steps = entry[:info]["steps"].map do |s|
        LegacyHandlerAdapter::StepView.new(workflow_step_id: nil, task_id: nil, name: s["name"], status: "pending",
                                           results: nil, attempts: 0, retry_limit: s["retry_limit"],
                                           handler_config: s["handler_config"])
      end
      entry[:handler].new.establish_step_dependencies_and_defaults(task, steps)
      task.context.is_a?(Hash) ? task.context.to_h : task.context
    end

    private

    def entry_for(name, namespace, version)
      # Read without the mutex (a Hash read is safe under the GVL); only learning writes.
      # Nested by name, then namespace and version, not keyed by an Array of the three:
      # hashing and comparing an Array key cost more than the rest of a submit_task's Ruby
      # side (benches/submit_instructions.rb).
      by_version = @by_template[name]&.[](namespace)
      found = by_version ? by_version.fetch(version, :unknown) : :unknown
      return found unless found == :unknown

      info = begin
        @engine.native.template_info(name, namespace, version)
      rescue TaskerCore::Error
        return nil # no such template: the submission itself will say so; nothing is cached
      end
      entry = learn(info)
      @mutex.synchronize { ((@by_template[name] ||= {})[namespace] ||= {})[version] = entry }
      subscribe_for_annotations if entry.is_a?(Hash) && entry[:annotate]
      entry
    end

    # false: no hook to run (no class, or a class defining neither); :unresolved: the class
    # is not found (nothing runs, as for false, but the native engine is not told); else the
    # hooks' entry.
    def learn(info)
      class_name = info["task_handler_class"]
      return false if class_name.nil? || class_name.empty?

      handler = resolve([info["module_namespace"], class_name].compact.join("::")) || resolve(class_name)
      return :unresolved unless handler.is_a?(Class)

      defined = HOOKS.to_h { |hook| [hook, own_hook?(handler, hook)] }
      return false unless defined.values.any?

      { info: info, handler: handler, establish: defined[:establish_step_dependencies_and_defaults],
        annotate: defined[:update_annotations], key: "#{info['namespace']}/#{info['name']}" }
    end

    def resolve(name)
      @lookup.call(name)
    rescue NameError, TaskerCore::Error
      nil
    end

    # A hook the class defines itself, not the no-op of Tasker::TaskHandler.
    def own_hook?(klass, hook)
      return false unless klass.method_defined?(hook)

      owner = klass.instance_method(hook).owner
      !(defined?(::Tasker::TaskHandler) && owner == ::Tasker::TaskHandler)
    end

    def subscribe_for_annotations
      @mutex.synchronize do
        return if @subscribed

        @subscribed = true
      end
      @engine.subscribe("task.completed", "task.failed", name: "TaskerCore::TaskHandlerHooks") { |event| annotate(event) }
    end

    def annotate(event)
      ctx = event.context
      entry = @mutex.synchronize do
        @by_template.each_value.flat_map { |by_namespace| by_namespace.values.flat_map(&:values) }
                    .find { |e| e.is_a?(Hash) && e[:annotate] && e[:key] == "#{ctx['namespace']}/#{ctx['task_name']}" }
      end
      return unless entry

      stored = @engine.native.task(event.task_id) or return
      task = LegacyHandlerAdapter::TaskView.new(task_id: stored["task_id"], name: stored["name"],
                                                namespace: stored["namespace"], version: stored["version"],
                                                context: stored["context"])
      sequence = LegacyHandlerAdapter::Sequence.new([], -> { stored })
      entry[:handler].new.update_annotations(task, sequence, sequence.steps)
    end
  end
end
