# frozen_string_literal: true

require "socket"

module TaskerCore
  # What a store holds right now, for `tasker-core status` and the dashboard: tasks and
  # steps counted by state, and (PostgreSQL) the engine processes sharing the database.
  #
  # It reads through the engine it is given and changes nothing.
  class StoreStatus
    # The states a task or step can be in (TASKER.md), in the order people read them.
    STATES = %w[pending in_progress complete error cancelled resolved_manually].freeze

    # @return [Hash{Symbol => Integer}] `Insights::SystemHealthCounts#to_h`
    attr_reader :health
    # @return [Array<Insights::Processes::Process>] every process but the reader's own
    attr_reader :processes

    # @param engine [TaskerCore::Engine]
    # @return [StoreStatus]
    def self.read(engine)
      health = Insights::SystemHealthCounts.from_store(engine: engine).to_h
      # The reader's own process (a CLI client, the dashboard's engine) is not news to it.
      processes = Insights::Processes.all(engine: engine).reject do |p|
        p.pid == ::Process.pid && p.hostname == Socket.gethostname
      end
      new(health, processes)
    end

    # @param health [Hash{Symbol => Integer}]
    # @param processes [Array<Insights::Processes::Process>]
    def initialize(health, processes)
      @health = health
      @processes = processes
    end

    # Rows of [state, tasks, steps], one per state, then the totals.
    # @return [Array<Array>]
    def counts
      STATES.map { |s| [s, health[:"#{s}_tasks"], health[:"#{s}_steps"]] } +
        [["total", health[:total_tasks], health[:total_steps]]]
    end
  end
end
