# frozen_string_literal: true

module TaskerCore
  # Schedules: a task that starts later (`run_at:` / `delay:` on {Engine#submit_task},
  # {Engine#submit_once}, {Engine#create_task}), and recurring tasks from cron expressions
  # (`schedules:` of {Engine.start}, `config.tasker_core.schedules`).
  #
  #   engine.submit_task("send_reminder", { "user_id" => 7 }, delay: 3600)
  #   engine.submit_task("close_auction", { "id" => 9 }, run_at: auction.ends_at)
  #
  #   TaskerCore::Engine.start(schedules: {
  #     "nightly_report" => { cron: "0 2 * * *", task: "report", namespace: "reports", context: { "kind" => "daily" } }
  #   })
  #
  # A delayed task is stored at once (its id is returned) and no step starts before its
  # time, also after a restart: the root steps carry Tasker's backoff columns
  # (`last_attempted_at + backoff_request_seconds` = run_at), which Tasker's own readiness
  # honours too. A cron occurrence is submitted once by its identity
  # `schedule:<name>:<time>`, even with several processes on one PostgreSQL database.
  # Cron expressions have 5 fields (minute hour day month weekday) or 6 (seconds first),
  # in UTC. Occurrences missed while no engine ran are skipped, unless `catch_up:` seconds
  # let the latest missed one (no older than that) run once.
  module Schedules
    # Keys a schedule's Hash may have.
    KEYS = %i[cron task namespace version context catch_up].freeze

    # The time no step of a task starts before, as seconds since the epoch, from
    # `run_at:` or `delay:`; nil when neither is given.
    # @param run_at [Time, DateTime, nil]
    # @param delay [Numeric, nil] seconds from now, >= 0
    # @return [Float, nil]
    # @raise [ValidationError] for both given, a negative or non-numeric delay, a run_at
    #   that is not a Time
    def self.run_at(run_at, delay)
      return nil if run_at.nil? && delay.nil?
      raise ValidationError, "run_at and delay: give one of them, not both" unless run_at.nil? || delay.nil?

      unless delay.nil?
        unless delay.is_a?(Numeric) && !delay.is_a?(Complex) && delay.to_f.finite? && delay >= 0
          raise ValidationError, "delay: expected seconds (a number >= 0), got #{delay.inspect}"
        end

        return Time.now.to_f + delay.to_f
      end
      return run_at.to_f if run_at.is_a?(Time)
      return run_at.to_time.to_f if defined?(::DateTime) && run_at.is_a?(::DateTime)

      raise ValidationError, "run_at: expected a Time, got #{run_at.inspect}"
    end

    # The rows `Native::Engine#start_schedules` takes, from `schedules:`.
    # @param schedules [Hash{String, Symbol => Hash}] name => { cron:, task:, namespace:,
    #   version:, context:, catch_up: }
    # @return [Array<Array>]
    # @raise [ConfigurationError] naming the schedule and the key at fault
    def self.rows(schedules)
      unless schedules.is_a?(Hash)
        raise ConfigurationError, "schedules: expected a Hash of name => { cron:, task:, ... }, got #{schedules.inspect}"
      end

      schedules.map { |name, spec| row(name.to_s, spec) }
    end

    # One schedule's row; see {rows}.
    # @return [Array]
    # @raise [ConfigurationError]
    def self.row(name, spec)
      raise ConfigurationError, "schedule #{name.inspect}: expected a Hash, got #{spec.inspect}" unless spec.is_a?(Hash)

      spec = spec.transform_keys(&:to_sym)
      unknown = spec.keys - KEYS
      raise ConfigurationError, "schedule #{name.inspect}: unknown keys #{unknown.inspect} (known: #{KEYS.join(", ")})" if unknown.any?

      cron, task = spec[:cron], spec[:task]
      raise ConfigurationError, "schedule #{name.inspect}: cron: expected a String such as \"0 2 * * *\", got #{cron.inspect}" unless cron.is_a?(String)
      raise ConfigurationError, "schedule #{name.inspect}: task: expected a task template's name, got #{task.inspect}" if task.nil? || task.to_s.empty?

      context = spec.fetch(:context, {}) || {}
      raise ConfigurationError, "schedule #{name.inspect}: context: expected a Hash, got #{context.inspect}" unless context.is_a?(Hash)

      catch_up = spec[:catch_up]
      unless catch_up.nil? || (catch_up.is_a?(Numeric) && catch_up >= 0)
        raise ConfigurationError, "schedule #{name.inspect}: catch_up: expected seconds >= 0, got #{catch_up.inspect}"
      end

      [name, cron, task.to_s, spec[:namespace]&.to_s, spec[:version]&.to_s, context, catch_up&.to_f]
    end
  end
end
