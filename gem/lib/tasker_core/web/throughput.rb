# frozen_string_literal: true

module TaskerCore
  module Web
    # Steps completed and tasks failed per interval over a recent window (the overview's
    # chart), from the store's analytics ({Insights::AnalyticsMetrics}).
    #
    # The store counts every interval in one read (`throughput`), by the definitions of its
    # analytics ({Insights::AnalyticsMetrics}: a step counts when it completed; a task counts
    # in the interval it entered error, if it is still in error).
    class Throughput
      # One interval.
      Bucket = Struct.new(:from, :to, :steps, :errors, keyword_init: true) do
        # @return [Float] steps completed per second in the interval
        def steps_per_second = steps.fdiv(to - from)
      end

      # @param engine [TaskerCore::Engine]
      # @param window [Integer] seconds back from now
      # @param buckets [Integer] intervals in the window
      # @param now [Time]
      def initialize(engine, window: 3600, buckets: 12, now: Time.now)
        @engine = engine
        @window = window
        @buckets = buckets
        @now = now
      end

      # Oldest first: one query (the store counts every interval in one statement).
      # @return [Array<Bucket>]
      def buckets
        step = @window.fdiv(@buckets)
        edges = (0..@buckets).map { |k| @now - (@buckets - k) * step }
        counts = Insights.engine!(@engine).native.throughput(Insights.micros(edges.first), Insights.micros(@now), @buckets)
        (0...@buckets).map do |k|
          Bucket.new(from: edges[k], to: edges[k + 1], steps: counts[k][0], errors: counts[k][1])
        end
      end
    end
  end
end
