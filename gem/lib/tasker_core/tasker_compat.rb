# frozen_string_literal: true

require "json"
require "time"
require "yaml"
require_relative "errors"
begin
  require "active_support"
  require "active_support/hash_with_indifferent_access"
  require "active_support/core_ext/hash/indifferent_access"
  require "active_support/core_ext/hash/keys"
  require "active_support/core_ext/string/inflections"
  require "active_support/core_ext/object/blank"
rescue LoadError
  nil # without ActiveSupport, contexts are plain Hashes with String keys
end

# The Tasker Rails engine's handler API, for handlers that move to tasker-core unchanged:
#
#   require "tasker_core/tasker_compat" # the Railtie does this when the Tasker gem is absent
#
#   class ValidateCart < Tasker::StepHandler::Base
#     def process(task, sequence, step)
#       raise Tasker::PermanentError.new("empty cart", error_code: "EMPTY_CART") if task.context[:cart_items].blank?
#       { total: 42 }
#     end
#   end
#
# What it defines, following Tasker's public behaviour (docs/rails.md, "Migrate from the
# Tasker engine"): `Tasker::Error`, `ConfigurationError`, `ProceduralError`,
# `RetryableError(retry_after:, context:)`, `PermanentError(error_code:, context:)`;
# `Tasker::StepHandler::Base` (handle → process → process_results) and
# `Tasker::StepHandler::Api` (a Faraday connection from the step's handler_config; 429/503
# retried after Retry-After, 4xx permanent); `Tasker::TaskHandler` and
# `Tasker::ConfiguredTask` (registration and the two hooks tasker-core calls:
# `establish_step_dependencies_and_defaults` at submission, `update_annotations` when the
# task ends). Where the Tasker engine gem itself is loaded, its classes stay and the runner
# recognises its errors the same way (see TaskerCore::Failure); nothing here is redefined.
module Tasker
  # Base of Tasker's errors.
  class Error < StandardError; end unless const_defined?(:Error, false)
  # A configuration problem.
  class ConfigurationError < Error; end unless const_defined?(:ConfigurationError, false)
  # A failure in a workflow's procedure.
  class ProceduralError < Error; end unless const_defined?(:ProceduralError, false)

  unless const_defined?(:RetryableError, false)
    # A failure worth retrying; `retry_after` seconds asks for that delay.
    class RetryableError < ProceduralError
      include TaskerCore::RetryableFields
    end
  end

  unless const_defined?(:PermanentError, false)
    # A failure retrying cannot fix: the step is not retried; `error_code` is recorded.
    class PermanentError < ProceduralError
      include TaskerCore::PermanentFields
    end
  end

  # Step handlers in Tasker's shape.
  module StepHandler
    unless const_defined?(:Base, false)
      # Tasker's step handler: #handle calls #process(task, sequence, step), then
      # #process_results(step, output, initial_results), which stores the output as the
      # step's results unless #process already set them.
      class Base
        # Events this handler publishes (Tasker declares them here too).
        # @return [Array]
        def self.custom_event_configuration = []

        # @param config [Hash, nil] the step's handler_config
        def initialize(config: nil)
          @config = config
        end

        # @return [Object] what #process returned
        def handle(task, sequence, step)
          initial_results = step.results
          output = process(task, sequence, step)
          process_results(step, output, initial_results)
          output
        end

        # The step's business logic.
        # @return [Object]
        def process(_task, _sequence, _step)
          raise NotImplementedError, "#{self.class.name} must implement process(task, sequence, step)"
        end

        # Stores `process_output` as the step's results unless #process set them.
        # @return [void]
        def process_results(step, process_output, initial_results)
          step.results = process_output if step.results == initial_results
        end

        # Publishes a custom event (listed in the template's custom_events).
        # @param name [String]
        # @param payload [Hash]
        # @return [void]
        def publish_custom_event(name, payload = {})
          context = @tasker_step_context or raise TaskerCore::OrchestrationError, "publish_custom_event: no step is running"
          context.publish_event(name, payload)
        end

        # Tasker's structured log line, written to Rails.logger (or TaskerCore's logger).
        # @return [void]
        def log_structured(level, message, **fields)
          logger = (defined?(::Rails) && ::Rails.respond_to?(:logger) && ::Rails.logger) || nil
          logger&.public_send(level, "#{message} #{fields.inspect}")
        end

        protected

        # @return [Hash, nil] the step's handler_config
        attr_reader :config
      end
    end

    unless const_defined?(:Api, false)
      # Tasker's HTTP step handler: #process uses #connection (Faraday, configured from the
      # step's handler_config: url, params, headers, ssl); the response's status decides
      # what happens — 2xx stores the body, 429 and 503 are retried after Retry-After,
      # 400/401/403/404/422 fail for good with error_code "HTTP_<status>", anything else is
      # retried with backoff.
      class Api < Base
        # The connection settings.
        Config = Struct.new(:url, :params, :ssl, :headers, :enable_exponential_backoff, :retry_delay,
                            keyword_init: true)

        PERMANENT = [400, 401, 403, 404, 422].freeze
        THROTTLED = [429, 503].freeze

        # @param config [Config, Hash, nil]
        def initialize(config: nil, &block)
          super(config: config)
          @connection_block = block
        end

        # @return [Faraday::Connection]
        def connection
          @connection ||= begin
            require "faraday"
            settings = api_config
            ::Faraday.new(url: settings.url, params: settings.params || {}, headers: settings.headers || {},
                          ssl: settings.ssl || {}) { |conn| @connection_block&.call(conn) }
          end
        end

        # @return [Object] the response
        def handle(task, sequence, step)
          initial_results = step.results
          response = process(task, sequence, step)
          check_status(response)
          process_results(step, response, initial_results)
          response
        end

        # Stores the response body (parsed JSON when it is JSON).
        # @return [void]
        def process_results(step, process_output, initial_results)
          return unless step.results == initial_results

          step.results = process_output.respond_to?(:body) ? body_of(process_output) : process_output
        end

        private

        def api_config
          case config
          when Config then config
          when Hash
            Config.new(**config.transform_keys(&:to_sym).slice(*Config.members))
          else raise Tasker::ConfigurationError, "#{self.class.name}: handler_config needs a url for an API step"
          end
        end

        def check_status(response)
          return unless response.respond_to?(:status)

          status = response.status.to_i
          return if (200..299).cover?(status)

          context = { "status" => status }
          if THROTTLED.include?(status)
            raise Tasker::RetryableError.new("HTTP #{status}", retry_after: retry_after(response), context: context)
          end
          raise Tasker::PermanentError.new("HTTP #{status}", error_code: "HTTP_#{status}", context: context) if PERMANENT.include?(status)

          raise Tasker::RetryableError.new("HTTP #{status}", context: context)
        end

        def retry_after(response)
          value = response.headers && response.headers["Retry-After"]
          return nil if value.nil?
          return [value.to_i, 1].max if value.to_s.match?(/\A\d+\z/)

          [(Time.httpdate(value.to_s) - Time.now).ceil, 1].max
        rescue ArgumentError
          nil
        end

        def body_of(response)
          body = response.body
          body.is_a?(String) ? JSON.parse(body) : body
        rescue JSON::ParserError
          body
        end
      end
    end
  end

  unless const_defined?(:TaskHandler, false)
    # Tasker's task handler module: registration (kept for the class's own use; the
    # template registers the task in tasker-core) and the hooks tasker-core calls:
    # - `establish_step_dependencies_and_defaults(task, steps)` once, when the task is
    #   submitted, before it is stored: changes it makes to `task.context` are kept (Tasker
    #   calls it whenever it builds the sequence; tasker-core builds it once);
    # - `update_annotations(task, sequence, steps)` once the task has ended, with every
    #   step (Tasker calls it before it finalizes the task).
    module TaskHandler
      # @param base [Class]
      def self.included(base)
        base.extend(ClassMethods)
      end

      # Class-level configuration, as Tasker's task handlers declare it.
      module ClassMethods
        # Records the registration (tasker-core registers tasks from their templates).
        # @return [Hash]
        def register_handler(name, namespace_name: "default", version: "0.1.0", concurrent: true)
          @tasker_registration = { name: name.to_s, namespace_name: namespace_name.to_s, version: version.to_s,
                                   concurrent: concurrent }
        end

        # @return [Hash, nil] what {#register_handler} recorded
        attr_reader :tasker_registration

        # Step templates declared in Ruby; kept for the class's own use (tasker-core runs the
        # template's YAML).
        # @return [Array<Hash>]
        def define_step_templates
          definer = Struct.new(:list) { def define(**step) = list << step }.new([])
          yield definer
          @step_templates = definer.list
        end

        # @return [Array<Hash>]
        def step_templates = @step_templates || []
      end

      # Hook: adjust the task (its context) and steps before the task is stored.
      # @return [void]
      def establish_step_dependencies_and_defaults(_task, _steps); end

      # Hook: record what the finished task produced.
      # @return [void]
      def update_annotations(_task, _sequence, _steps); end
    end
  end

  unless const_defined?(:ConfiguredTask, false)
    # Tasker's YAML-configured task handler: `task_name` from the class name, its template
    # at config/tasker/tasks/<task_name>.yaml under Rails.root.
    class ConfiguredTask
      include TaskHandler

      class << self
        # @return [String]
        def task_name
          base = name.to_s.split("::").last.to_s
          base.respond_to?(:underscore) ? base.underscore : base.gsub(/([a-z\d])([A-Z])/, '\1_\2').downcase
        end

        # @return [String]
        def yaml_path
          root = defined?(::Rails) && ::Rails.respond_to?(:root) && ::Rails.root ? ::Rails.root.to_s : Dir.pwd
          File.join(root, "config", "tasker", "tasks", "#{task_name}.yaml")
        end

        # @return [Hash] the template
        def config
          YAML.safe_load(File.read(yaml_path), aliases: true)
        end
      end
    end
  end
end
