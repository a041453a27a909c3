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
    # @return [Integer, nil] nil: exact counts; else task counts stop above this (steps not counted)
    attr_reader :cap

    # Task counts a dashboard can afford on every page view: each state's tasks counted from
    # the listing's index of current states, stopping after `cap` (a bounded range, however
    # long the history). A store with no more than `cap` tasks gets the exact counts, steps
    # included ({.read}); a larger one gets tasks only, each count at most cap + 1
    # (shown as "more than cap").
    # @param engine [TaskerCore::Engine]
    # @param cap [Integer]
    # @return [StoreStatus]
    def self.glance(engine, cap: 1000)
      tasks = STATES.to_h { |s| [s, engine.tasks(state: s, limit: cap + 1).size] }
      return read(engine) if tasks.values.sum <= cap

      health = tasks.to_h { |s, n| [:"#{s}_tasks", n] }.merge(total_tasks: tasks.values.sum)
      new(health, others(engine), cap: cap)
    end

    # @param engine [TaskerCore::Engine]
    # @return [StoreStatus]
    def self.read(engine)
      health = Insights::SystemHealthCounts.from_store(engine: engine).to_h
      new(health, others(engine))
    end

    # The reader's own process (a CLI client, the dashboard's engine) is not news to it.
    def self.others(engine)
      Insights::Processes.all(engine: engine).reject do |p|
        p.pid == ::Process.pid && p.hostname == Socket.gethostname
      end
    end
    private_class_method :others

    # @param health [Hash{Symbol => Integer}]
    # @param processes [Array<Insights::Processes::Process>]
    # @param cap [Integer, nil] see {#cap}
    def initialize(health, processes, cap: nil)
      @health = health
      @processes = processes
      @cap = cap
    end

    # Rows of [state, tasks, steps], one per state, then the totals (steps nil when capped).
    # @return [Array<Array>]
    def counts
      STATES.map { |s| [s, health[:"#{s}_tasks"], health[:"#{s}_steps"]] } +
        [["total", health[:total_tasks], health[:total_steps]]]
    end
  end
end
