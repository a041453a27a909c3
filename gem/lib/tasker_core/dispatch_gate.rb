# frozen_string_literal: true

module TaskerCore
  # Checks for the dispatch gate's settings (issue 17): task priorities and concurrency
  # limits. The gate itself is the engine's (crates/engine/src/gate): this module only turns
  # what an app wrote into what the engine reads, or raises an error naming the entry. On
  # PostgreSQL a cap holds for every engine process on the database together (slots in
  # tasker_core_cap_slots); give every process the same caps.
  #
  #   TaskerCore::Engine.start(concurrency: {
  #     handlers: { "PaymentHandler" => 2 },  # steps of that handler class out at once
  #     namespaces: { "billing" => 5 },       # steps of tasks in that namespace
  #     keys: { "account_id" => 1 }           # per distinct value of context["account_id"]
  #   })
  module DispatchGate
    # The groups `concurrency:` accepts.
    GROUPS = %w[handlers namespaces keys].freeze

    # Priorities are 32-bit integers (higher first).
    PRIORITY_RANGE = (-(2**31)..((2**31) - 1)).freeze

    module_function

    # `concurrency:` as the engine reads it: `{"handlers" => {"Name" => Integer}, …}`.
    # @param config [Hash, nil]
    # @return [Hash{String => Hash{String => Integer}}, nil]
    # @raise [ConfigurationError] naming the entry at fault
    def concurrency(config)
      return nil if config.nil?
      raise ConfigurationError, "concurrency: expected a Hash of #{GROUPS.join(', ')}, got #{config.inspect[0, 100]}" unless config.is_a?(Hash)

      config.to_h do |group, limits|
        unless GROUPS.include?(group.to_s)
          raise ConfigurationError, "concurrency #{group}: unknown group (expected #{GROUPS.join(', ')})"
        end
        unless limits.is_a?(Hash)
          raise ConfigurationError, "concurrency #{group}: expected a Hash of name => Integer limit, got #{limits.inspect[0, 100]}"
        end

        [group.to_s, limits.to_h { |name, limit| [name.to_s, limit!(group, name, limit)] }]
      end
    end

    # A task's priority: an Integer (nil is 0).
    # @param value [Integer, nil]
    # @return [Integer, nil]
    # @raise [ValidationError]
    def priority(value)
      return nil if value.nil?
      return value if value.is_a?(Integer) && PRIORITY_RANGE.cover?(value)

      raise ValidationError, "priority: expected an Integer from #{PRIORITY_RANGE.min} to #{PRIORITY_RANGE.max}, " \
                             "got #{value.inspect[0, 100]}"
    end

    def limit!(group, name, limit)
      return limit if limit.is_a?(Integer) && limit.between?(1, (2**32) - 1)

      raise ConfigurationError, "concurrency #{group}.#{name}: expected an Integer ≥ 1, got #{limit.inspect[0, 100]}"
    end
    private_class_method :limit!
  end
end
