# frozen_string_literal: true

require "erb"
require "yaml"

module TaskerCore
  class CLI
    # `tasker-core work --config FILE`: the worker's settings from a YAML file (ERB first, so
    # `<%= ENV["…"] %>` works), as `bundle exec sidekiq -C config/sidekiq.yml` reads its own.
    # The command line has no options for the nested settings (caps, schedules), so without a
    # file a worker outside Rails could not use them.
    #
    # It only reads and checks the file's shape: a key it does not know, or a value of the
    # wrong kind for a command-line setting, is a {UsageError} naming the file and the key.
    # The engine's own settings (step_timeout, concurrency, retention…, schedules) are
    # passed to {Engine.start} as they are, which names what is wrong in them.
    class WorkConfig
      # Keys that stand for a command-line option (the option wins when both are given).
      OPTION_KEYS = %w[require templates environment workers ractors max_tasks database_url claim_interval
                       lease_timeout heartbeat_interval shutdown_timeout].freeze
      # Keys only the file can give: {Engine.start}'s keywords of the same names.
      ENGINE_KEYS = %w[batch_size step_timeout concurrency retention retention_interval retention_batch
                       schedules].freeze

      # @return [String] the file, as given
      attr_reader :path

      # @param path [String] an existing file
      # @raise [UsageError] for a file that is not YAML of one Hash with known keys
      def initialize(path)
        @path = path
        @settings = read
      end

      # @param key [String] one of {OPTION_KEYS}
      # @return [Object, nil] the file's value, nil when it has none
      def [](key) = @settings[key]

      # The settings only the file gives, for {Engine.start}.
      # @return [Hash{Symbol => Object}]
      def engine_options
        @settings.slice(*ENGINE_KEYS).transform_keys(&:to_sym)
      end

      # The file's value for a repeatable option (`require`, `templates`): one String or a list.
      # @param key [String]
      # @return [Array<String>]
      # @raise [UsageError] for anything but Strings
      def list(key)
        values = Array(@settings[key])
        bad = values.reject { |v| v.is_a?(String) }
        raise UsageError, "#{where(key)}: expected a path or a list of paths, got #{bad.first.inspect}" if bad.any?

        values
      end

      # @return [Array<String>] the keys the file sets
      def keys = @settings.keys

      # One line for the log: which settings came from the file.
      # @param overridden [Array<String>] keys the command line gave too
      # @return [String]
      def describe(overridden:)
        used = keys.sort - overridden
        line = "settings from #{path}: #{used.empty? ? 'none' : used.join(', ')}"
        overridden.empty? ? line : "#{line} (the command line's #{overridden.sort.join(', ')} won)"
      end

      # "FILE: key" for messages.
      # @param key [String]
      # @return [String]
      def where(key) = "--config #{path}: #{key}"

      private

      def read
        text = ERB.new(File.read(path)).result
        settings = YAML.safe_load(text, aliases: true, filename: path) || {}
        raise UsageError, "--config #{path}: expected a mapping of settings, got #{settings.class}" unless settings.is_a?(Hash)

        settings = settings.transform_keys(&:to_s)
        unknown = settings.keys - OPTION_KEYS - ENGINE_KEYS
        if unknown.any?
          raise UsageError, "--config #{path}: unknown key #{unknown.first.inspect} " \
                            "(known: #{(OPTION_KEYS + ENGINE_KEYS).join(', ')})"
        end
        settings
      rescue Psych::Exception, SyntaxError, StandardError => e
        raise if e.is_a?(UsageError)

        # Psych puts "(FILE): " before its own message; the file is named once already.
        raise UsageError, "--config #{path}: #{e.message.lines.first.strip.delete_prefix("(#{path}): ")}"
      end
    end
  end
end
