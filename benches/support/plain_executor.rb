# frozen_string_literal: true

require "yaml"

module Bench
  # The native-Ruby baseline for the throughput bench: runs a Tasker template's DAG in this
  # process with no engine at all.
  #
  # Duties:
  # - parse the same YAML template and count each step's parents (in-degree);
  # - run each step's handler with `handler.process(context)`, one new handler instance per
  #   step (as TaskerCore's HandlerResolver does, so handlers need not be thread-safe);
  # - when a step finishes, count its children down and queue those that reach zero.
  #
  # Same work shape as the engine, none of its guarantees: no persistence, retries,
  # transitions, events or results crossing a boundary. It only measures what plain Ruby
  # pays to walk the DAG and call the handlers, on one thread or several.
  class PlainExecutor
    # What a handler receives: the small subset of TaskerCore::StepContext a no-op needs.
    Context = Struct.new(:task_id, :step_name, :task_context, :parent_results)

    # @return [Integer]
    attr_reader :size

    # @param yaml [String] a Tasker task template
    def initialize(yaml)
      template = YAML.safe_load(yaml)
      steps = template.fetch("step_templates")
      index = steps.each_with_index.to_h { |s, i| [s.fetch("name"), i] }
      @size = steps.size
      @names = steps.map { |s| s.fetch("name") }
      @handlers = steps.map { |s| Object.const_get(s.fetch("handler_class")) }
      @children = Array.new(@size) { [] }
      @in_degree = Array.new(@size, 0)
      steps.each_with_index do |s, i|
        parents = ([s["depends_on_step"]] + Array(s["depends_on_steps"])).compact.uniq
        parents.each { |p| @children[index.fetch(p)] << i }
        @in_degree[i] = parents.size
      end
      @roots = (0...@size).select { |i| @in_degree[i].zero? }
      @task_ids = 0
    end

    # Runs every step once.
    # @param threads [Integer]
    # @param task_context [Hash]
    # @return [Integer] steps run
    def run(threads:, task_context: {})
      task_id = (@task_ids += 1)
      threads == 1 ? run_inline(task_id, task_context) : run_threaded(task_id, task_context, threads)
    end

    private

    def execute(task_id, task_context, step)
      @handlers[step].new.process(Context.new(task_id, @names[step], task_context, {}))
    end

    def run_inline(task_id, task_context)
      remaining = @in_degree.dup
      results = Array.new(@size)
      ready = @roots.dup
      ran = 0
      while (step = ready.pop)
        results[step] = execute(task_id, task_context, step)
        ran += 1
        @children[step].each { |c| ready << c if (remaining[c] -= 1).zero? }
      end
      ran
    end

    # Workers pop steps from a Queue; the counters are shared, so a Mutex guards the
    # count-down. The last step to finish closes the queue and the workers end; a handler
    # that raises closes it too, so the other workers end and #join re-raises.
    def run_threaded(task_id, task_context, threads)
      remaining = @in_degree.dup
      results = Array.new(@size)
      queue = Queue.new
      lock = Mutex.new
      left = @size
      @roots.each { |r| queue << r }
      workers = Array.new(threads) do
        Thread.new do
          Thread.current.report_on_exception = false
          while (step = queue.pop)
            results[step] = execute(task_id, task_context, step)
            lock.synchronize do
              @children[step].each { |c| queue << c if (remaining[c] -= 1).zero? }
              queue.close if (left -= 1).zero?
            end
          end
        rescue ClosedQueueError
          nil # another worker failed and closed the queue; its #join raises
        rescue Exception # rubocop:disable Lint/RescueException
          queue.close
          raise
        end
      end
      workers.each(&:join)
      @size - left
    end
  end
end
