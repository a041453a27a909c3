# frozen_string_literal: true

module Tasker
  # Tasker's append-only task history (see Tasker::Task).
  class TaskTransition < ApplicationRecord
    self.table_name = "tasker_task_transitions"
  end
end
