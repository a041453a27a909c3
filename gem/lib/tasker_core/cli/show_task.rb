# frozen_string_literal: true

require_relative "../task_history"

module TaskerCore
  class CLI
    # `tasker-core task ID`: one task as stored — its state and context, each step's state,
    # attempts and last error, and both transition histories.
    class ShowTask < DatabaseCommand
      # One line for `tasker-core --help`.
      SUMMARY = "Show one task: its steps, attempts, errors and history"

      # @return [String]
      def usage_arguments = "TASK_ID"

      private

      def accepts_arguments? = true

      def perform(engine, *ids)
        raise UsageError, "give one task id" unless ids.size == 1

        task_id = id("TASK_ID", ids.first)
        row = progress.during("reading task #{task_id}") { engine.task_hash(task_id) }
        return print_json(json_ready(row)) if @json

        task = TaskerCore::Task.new(engine, row)
        @out.puts "task #{task.task_id}  #{task.namespace}/#{task.name}@#{task.version}  #{task.current_state}"
        @out.puts "created #{time(task.created_at)}, updated #{time(task.updated_at)}"
        @out.puts "context #{JSON.generate(task.context)}"
        @out.puts
        print_table(%w[step id state attempts retry_limit last_error], task.steps.map { |s| step_row(s) })
        @out.puts
        @out.puts "history"
        history(task).each { |line| @out.puts "  #{line}" }
        CLI::EXIT_OK
      end

      def step_row(step)
        [step.name, step.step_id, step.current_state, step.attempts, step.retry_limit, last_error(step)]
      end

      def last_error(step) = TaskerCore::TaskHistory.last_error(step)

      def history(task)
        TaskerCore::TaskHistory.new(task).entries.map do |e|
          "#{time(e.at)}  #{e.subject} #{e.from_state || '-'} -> #{e.to_state}"
        end
      end

      def json_ready(value)
        case value
        when Hash then value.transform_values { |v| json_ready(v) }
        when Array then value.map { |v| json_ready(v) }
        when Time then value.utc.iso8601(6)
        else value
        end
      end
    end
  end
end
