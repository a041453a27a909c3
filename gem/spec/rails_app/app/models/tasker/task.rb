# frozen_string_literal: true

module Tasker
  # Tasker's tasks table, read through ActiveRecord as the Tasker engine's own models (and
  # its admin pages) read it: tasker-core writes the same tables, so an app moving over
  # keeps reading its tasks this way.
  class Task < ApplicationRecord
    self.table_name = "tasker_tasks"
    self.primary_key = "task_id"

    has_many :transitions, class_name: "Tasker::TaskTransition", foreign_key: :task_id

    # The state of the most recent transition ("pending" when there is none).
    # @return [String]
    def current_state
      transitions.find_by(most_recent: true)&.to_state || "pending"
    end

    # The context, parsed where the column holds JSON text (SQLite).
    # @return [Hash]
    def context_hash
      value = context
      value.is_a?(String) ? JSON.parse(value) : value
    end
  end
end
