# frozen_string_literal: true

module TaskerCore
  class CLI
    # The manual operations from a terminal: `retry STEP_ID`, `cancel TASK_ID`,
    # `resolve TASK_ID`, each with an optional `--reason` recorded in the transition.
    # They change the task as its Ruby API does ({Step#reset_for_retry!},
    # {Task#cancel!}, {Task#resolve_manually!}): a step or task not in a state the
    # operation applies to is refused with the reason, and nothing changes. The engine
    # drives the task with its template, so the task's template file is given with
    # `--templates` (as to `work`). On SQLite the file must not be held by a running worker
    # (one engine process per file); the task then runs on in the next worker to open it.
    class TaskOperation < DatabaseCommand
      # @param argv [Array<String>]
      # @param out [IO]
      # @param err [IO]
      def initialize(argv, out: $stdout, err: $stderr)
        super
        @reason = nil
        @templates = []
      end

      private

      def writes? = true
      def accepts_arguments? = true
      attr_reader :templates

      def define_command_options(parser)
        parser.on("--reason TEXT", "Why (recorded in the transition's metadata)") { |v| @reason = v }
        parser.on("-t", "--templates PATH", "The task's template file or directory. Repeatable") do |v|
          @templates << existing_path("--templates", v)
        end
      end

      def perform(engine, *ids)
        raise UsageError, "give one #{self.class::TARGET}" unless ids.size == 1

        target_id = id(self.class::TARGET, ids.first)
        task = engine.task(task_id(engine, target_id))
        begin
          operate(task, target_id)
        rescue TaskerCore::Error => e
          raise unless e.message.include?("is not registered")

          raise Failure, "#{e.message}: give its template file with --templates"
        end
        task = task.reload
        @out.puts "task #{task.task_id}: #{task.current_state}#{" (#{@reason})" if @reason}"
        CLI::EXIT_OK
      end

      def task_id(_engine, id) = id
    end

    # `tasker-core retry STEP_ID`: a step in error goes back to pending for another attempt.
    class RetryStep < TaskOperation
      # One line for `tasker-core --help`.
      SUMMARY = "Reset a failed step for another attempt"
      # What the argument is.
      TARGET = "STEP_ID"

      # @return [String]
      def usage_arguments = TARGET

      private

      def define_command_options(parser)
        super
        parser.on("--retry-limit N", "The step's new retry limit (its attempts start again from 0)") do |v|
          @retry_limit = integer("--retry-limit", v, min: 1)
        end
      end

      def task_id(engine, step_id)
        engine.task_of_step(step_id) or raise Failure, "no step #{step_id}"
      end

      def operate(task, step_id)
        task.steps.find_by(step_id: step_id).reset_for_retry!(new_retry_limit: @retry_limit, reason: @reason)
      end
    end

    # `tasker-core cancel TASK_ID`.
    class CancelTask < TaskOperation
      # One line for `tasker-core --help`.
      SUMMARY = "Cancel a task (its pending steps are cancelled)"
      # What the argument is.
      TARGET = "TASK_ID"

      # @return [String]
      def usage_arguments = TARGET

      private

      def operate(task, _id) = task.cancel!(reason: @reason)
    end

    # `tasker-core resolve TASK_ID`.
    class ResolveTask < TaskOperation
      # One line for `tasker-core --help`.
      SUMMARY = "Mark a task in error resolved by hand"
      # What the argument is.
      TARGET = "TASK_ID"

      # @return [String]
      def usage_arguments = TARGET

      private

      def operate(task, _id) = task.resolve_manually!(reason: @reason)
    end
  end
end
