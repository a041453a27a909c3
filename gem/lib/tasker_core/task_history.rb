# frozen_string_literal: true

module TaskerCore
  # One stored task's story as a reader wants it: the task's and its steps' transitions
  # merged into one timeline, and each step's most recent failure in a line. Shared by
  # `tasker-core task ID` and the dashboard's task page so both tell the same story.
  #
  # It only reads the {Task} it is given: it never queries the store or changes anything.
  class TaskHistory
    # One transition of the task or of one of its steps.
    Entry = Struct.new(:at, :step, :from_state, :to_state, :metadata, keyword_init: true) do
      # @return [String] "task" or "step NAME"
      def subject = step ? "step #{step.name}" : "task"

      # @return [String, nil] why, as recorded (an operation's reason or the error message)
      def reason = metadata["reason"] || metadata["error_message"]
    end

    # The most recent failure of `step`: its error class and message, from the metadata of
    # its last transition to error ("" when it never failed).
    # @param step [TaskerCore::Step]
    # @param max [Integer] characters kept
    # @return [String]
    def self.last_error(step, max: 160)
      failure = step.state_transitions.reverse.find { |t| t.to_state == "error" }
      return "" unless failure

      meta = failure.metadata || {}
      [meta["error_class"], meta["error_message"] || meta["reason"]].compact.join(": ")[0, max]
    end

    # @param task [TaskerCore::Task]
    def initialize(task)
      @task = task
    end

    # Every transition of the task and its steps, oldest first. One commit stamps the task's
    # finish and its last step's with the same time: at a tie the task's start comes before its
    # steps and its finish after them, so the story reads in the order things happened.
    # @return [Array<Entry>]
    def entries
      rows = @task.state_transitions.map { |t| entry(t, nil) }
      @task.steps.each { |step| step.state_transitions.each { |t| rows << entry(t, step) } }
      rows.each_with_index.sort_by { |e, i| [e.at, tie_rank(e), i] }.map(&:first)
    end

    private

    # Task states after which none of its steps moves: a transition to one of them, at a tie,
    # goes after the steps'.
    FINISHED = %w[complete error cancelled resolved_manually].freeze

    def tie_rank(entry)
      return 1 if entry.step

      FINISHED.include?(entry.to_state) ? 2 : 0
    end

    def entry(transition, step)
      Entry.new(at: transition.created_at, step: step, from_state: transition.from_state,
                to_state: transition.to_state, metadata: transition.metadata || {})
    end
  end
end
