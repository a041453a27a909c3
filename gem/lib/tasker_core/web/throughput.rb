# frozen_string_literal: true

module TaskerCore
  module Web
    # Steps completed and tasks failed per interval over a recent window (the overview's
    # chart), from the store's analytics ({Insights::AnalyticsMetrics}).
    #
    # The store counts "since T"; an interval's count is the difference of two such counts,
    # so the figures are the store's own definitions (a step counts when it completed; a
    # task counts in the interval it entered error, if it is still in error).
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

      # Oldest first.
      # @return [Array<Bucket>]
      def buckets
        step = @window.fdiv(@buckets)
        edges = (0..@buckets).map { |k| @now - (@buckets - k) * step }
        counts = edges.map { |t| since(t) }
        (0...@buckets).map do |k|
          Bucket.new(from: edges[k], to: edges[k + 1],
                     steps: [counts[k][0] - counts[k + 1][0], 0].max, errors: [counts[k][1] - counts[k + 1][1], 0].max)
        end
      end

      private

      # [steps completed, tasks in error] since `time`; nothing after now.
      def since(time)
        return [0, 0] if time >= @now

        m = Insights::AnalyticsMetrics.current(since: time, engine: @engine)
        [m.step_throughput, m.error_count]
      end
    end
  end
end
