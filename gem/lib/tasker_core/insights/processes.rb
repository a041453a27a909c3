# frozen_string_literal: true

module TaskerCore
  module Insights
    # The engines' processes sharing a PostgreSQL database (docs/processes.md): who is
    # alive, what each holds and runs. Empty on SQLite and `memory:` (one process).
    #
    #   TaskerCore::Insights::Processes.all.select(&:alive).sum(&:claimed_tasks)
    class Processes
      # One engine's process, as of its last heartbeat.
      Process = Struct.new(:id, :hostname, :pid, :role, :started_at, :heartbeat_age_seconds, :alive, :capacity,
                           :steps_in_flight, :claimed_tasks, :version, keyword_init: true)

      # Every process in the table, oldest first (dead ones stay listed, `alive: false`, until
      # a survivor prunes them after four leases).
      # @param engine [TaskerCore::Engine, nil] default: the process-wide engine
      # @return [Array<Process>]
      def self.all(engine: nil)
        Insights.engine!(engine).native.processes.map do |r|
          Process.new(**r, started_at: Insights.time(r[:started_at]))
        end
      end
    end
  end
end
