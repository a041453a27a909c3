# frozen_string_literal: true

module TaskerCore
  # What an idempotent submission did: the task's id, and whether this call created it
  # (false: a task with the same identity existed, and `task_id` is that task).
  #
  #   s = engine.submit_once("fulfil_order", { "order_id" => 42 })
  #   s.task_id   # => 17
  #   s.created?  # => true the first time, false for every repeat
  Submission = Struct.new(:task_id, :created) do
    # @return [Boolean] whether this call created the task
    def created?
      created
    end

    # @return [Boolean] whether the task existed before this call
    def duplicate?
      !created
    end

    # @return [Integer] the task id
    def to_i
      task_id
    end
  end

  # Reads the `identity:` argument of {Engine#submit_task} and {Engine#submit_once}
  # (Tasker's identity strategies) into what the native submit takes.
  #
  # - `:default` - the same template, context, initiator, source_system and reason are the
  #   same task;
  # - `{ key: "..." }` or `{ strategy: :caller_provided, key: "..." }` - the same key (an
  #   idempotency key, a job id) for the same template is the same task;
  # - `:always_unique` - every call creates a task (what `submit_task` does without one).
  #
  # A Hash may add `window:` (seconds, or an ActiveSupport::Duration): the identity then
  # holds within fixed windows of that length counted from the epoch, so the same
  # submission in a later window creates a new task.
  module Identity
    STRATEGIES = %w[default caller_provided always_unique].freeze
    KEYS = %i[strategy key window].freeze

    module_function

    # @param identity [Symbol, String, Hash]
    # @return [Array(String, String, Float)] strategy, key (or nil), window (or nil)
    # @raise [ValidationError] naming what is wrong, before anything is submitted
    def read(identity)
      case identity
      when Symbol, String then [strategy(identity), nil, nil]
      when Hash then from_hash(identity)
      else
        raise ValidationError, "identity: expected :default, :caller_provided (with a key), :always_unique " \
                               "or a Hash with strategy:, key:, window:; got #{identity.inspect}"
      end
    end

    # A Hash identity: its keys checked, the strategy implied by a key when not given.
    def from_hash(identity)
      unknown = identity.keys.map(&:to_sym) - KEYS
      raise ValidationError, "identity: unknown key(s) #{unknown.join(', ')} (expected strategy:, key:, window:)" if unknown.any?

      options = identity.transform_keys(&:to_sym)
      key = options[:key]
      key = Inputs.label(key.to_s, "identity key", 1024) unless key.nil?
      name = options[:strategy] || (key ? :caller_provided : :default)
      [strategy(name), key, window(options[:window])]
    end

    # A strategy's name, refused by name when it is not one of {STRATEGIES}.
    def strategy(name)
      name = name.to_s
      return name if STRATEGIES.include?(name)

      raise ValidationError, "identity strategy #{name.inspect}: not one of #{STRATEGIES.join(', ')}"
    end

    # Window seconds (a Numeric or an ActiveSupport::Duration), at least 1.
    def window(value)
      return nil if value.nil?
      return value.to_f if value.respond_to?(:to_f) && !value.is_a?(String) && value.to_f >= 1

      raise ValidationError, "identity window: expected at least 1 second, got #{value.inspect}"
    end
    private_class_method :from_hash, :strategy, :window
  end
end
