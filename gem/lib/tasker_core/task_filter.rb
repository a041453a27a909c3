# frozen_string_literal: true

require "time"
require_relative "store_status"

module TaskerCore
  # Reads the filters of a tasks listing from text (a command line, a query string) into
  # the keywords of `Engine#tasks`, so `tasker-core tasks` and the dashboard accept the
  # same values. Each bad value raises ArgumentError naming the filter and what it takes;
  # the caller words it for its audience (a usage line, a 400 page).
  module TaskFilter
    # The states a listing can filter on.
    STATES = StoreStatus::STATES

    # Seconds per unit of an age ("30m").
    UNITS = { "s" => 1, "m" => 60, "h" => 3600, "d" => 86_400 }.freeze

    module_function

    # @param value [String] ISO 8601 ("2026-12-01T00:00:00Z") or an age ("30m", "2h", "7d")
    # @param now [Time]
    # @return [Time]
    # @raise [ArgumentError]
    def since(value, now: Time.now)
      if (m = value.to_s.strip.match(/\A(\d+)([smhd])\z/))
        return now - (Integer(m[1], 10) * UNITS.fetch(m[2]))
      end

      text = value.to_s.strip
      # Without an offset, UTC (the times the dashboard and the CLI show), not the server's zone.
      text += "Z" if text.match?(/T\d{2}:\d{2}(:\d{2}(\.\d+)?)?\z/)
      Time.iso8601(text)
    rescue ArgumentError
      raise ArgumentError, "since #{value}: expected an ISO 8601 time (2026-12-01T00:00:00Z) or an age (30m, 2h, 7d)"
    end

    # @param value [String]
    # @return [String]
    # @raise [ArgumentError]
    def state(value)
      return value if STATES.include?(value)

      raise ArgumentError, "state #{value}: not one of #{STATES.join(', ')}"
    end

    # @param name [String] the filter's name, for the message
    # @param value [String]
    # @param min [Integer]
    # @param max [Integer, nil]
    # @return [Integer]
    # @raise [ArgumentError]
    def integer(name, value, min:, max: nil)
      number = Integer(value.to_s, 10, exception: false)
      return number if number && number >= min && (max.nil? || number <= max)

      raise ArgumentError, "#{name} #{value}: expected a whole number from #{min}#{max ? " to #{max}" : ' up'}"
    end
  end
end
