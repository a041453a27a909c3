# frozen_string_literal: true

module TaskerCore
  module Insights
    # The filter of {SlowestSteps.query} and {SlowestTasks.query}: rows finished within the
    # last `time_range` seconds (default 24 h), at most `limit` (default 10), optionally of
    # one namespace, task name or version.
    class SlowQuery
      # @return [String, nil]
      attr_accessor :namespace, :task_name, :version
      # @return [Numeric] seconds back from now
      attr_accessor :time_range
      # @return [Integer]
      attr_accessor :limit

      # The defaults: the last 24 hours, 10 rows, no filters.
      def initialize
        @time_range = 24 * 3600
        @limit = 10
      end

      # The arguments of `Native::Engine#slowest` after `kind`.
      # @return [Array]
      # @raise [ValidationError] naming the bad setting
      def to_native
        unless time_range.is_a?(Numeric) && time_range.positive?
          raise ValidationError, "time_range: must be a positive number of seconds, got #{time_range.inspect}"
        end
        raise ValidationError, "limit: must be an Integer ≥ 0, got #{limit.inspect}" unless limit.is_a?(Integer) && limit >= 0

        %i[namespace task_name version].each do |f|
          value = public_send(f)
          raise ValidationError, "#{f}: must be a String, got #{value.inspect}" unless value.nil? || value.is_a?(String) || value.is_a?(Symbol)
        end
        [Insights.micros(Time.now - time_range), limit, namespace&.to_s, task_name&.to_s, version&.to_s]
      end
    end
  end
end
