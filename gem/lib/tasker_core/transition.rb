# frozen_string_literal: true

module TaskerCore
  # One row of a task's or step's append-only history.
  class Transition
    # @return [String, nil] nil for the first transition of an old Tasker row without one
    attr_reader :from_state
    # @return [String]
    attr_reader :to_state
    # @return [Time] UTC
    attr_reader :created_at
    # @return [Integer] increases by one per transition of the same task or step
    attr_reader :sort_key
    # @return [Hash] reason, actor, error details, duration, operation...
    attr_reader :metadata

    # @param row [Hash] a transition Hash from `Native::Engine#task`
    def initialize(row)
      @from_state = row["from_state"]
      @to_state = row["to_state"]
      @created_at = row["created_at"]
      @sort_key = row["sort_key"]
      @most_recent = row["most_recent"]
      @metadata = row["metadata"] || {}
    end

    # Why it happened (an engine reason such as "handler_failed", or the reason given to a
    # manual operation).
    # @return [String, nil]
    def reason = metadata["reason"]

    # @return [Hash] same as #metadata (the seed's name)
    def context = metadata

    # The state this transition entered (for `state_history.map(&:state)`).
    # @return [String]
    def state = to_state

    # @return [Boolean]
    def most_recent? = @most_recent
  end
end
