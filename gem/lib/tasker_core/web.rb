# frozen_string_literal: true

require_relative "../tasker_core"
begin
  require "rack"
rescue LoadError
  # Not a gem dependency: a Rails app has Rack already; elsewhere it is one line to add.
  raise TaskerCore::ConfigurationError, "TaskerCore::Web needs the rack gem (gem \"rack\" in the Gemfile; Debian: ruby-rack)"
end
require_relative "store_status"
require_relative "task_history"
require_relative "task_filter"
require_relative "web/http_error"
require_relative "web/html"
require_relative "web/chart"
require_relative "web/throughput"
require_relative "web/authorization"
require_relative "web/csrf"
require_relative "web/pages/overview"
require_relative "web/pages/task_list"
require_relative "web/pages/task_page"
require_relative "web/pages/processes"
require_relative "web/actions"
require_relative "web/app"

module TaskerCore
  # The dashboard: a Rack app that shows what the engine's store holds (overview, tasks,
  # one task's DAG and history, processes) and runs the manual operations (retry a step,
  # cancel, resolve) as POSTs with a CSRF token.
  #
  # Loaded only by `require "tasker_core/web"`, never by the gem's main require: an app
  # that does not mount it pays nothing for it.
  #
  #   # config/routes.rb
  #   mount TaskerCore::Web => "/tasker"
  #   # config/initializers/tasker_core.rb
  #   TaskerCore::Web.authorize = ->(request) { request.env["warden"]&.user&.admin? }
  #
  # Mounted this way it reads the app's running engine ({TaskerCore.engine}) on every
  # request, so an engine restarted after a fork is picked up. `tasker-core web` runs an
  # {App} of its own on WEBrick (see {Server}). Layout: web/app.rb routes; web/pages/* render
  # one page each; web/actions.rb changes tasks; web/authorization.rb and web/csrf.rb guard.
  module Web
    # WEBrick only when served on its own: a Rails app under Puma need not bundle it.
    autoload :Server, File.expand_path("web/server", __dir__)

    class << self
      # Who may use the dashboard: called with the Rack::Request of every request; a falsy
      # answer is a 403. Unset, the dashboard is open except in production (RACK_ENV or
      # RAILS_ENV "production"), where it is closed until this is set.
      # @return [#call, nil]
      attr_accessor :authorize

      # The key the CSRF tokens are signed with: set it, or it is Rails'
      # `secret_key_base` when Rails runs, else TASKER_WEB_SECRET, else a random one made
      # once per process (forms then stop working across a restart).
      # @return [String]
      def secret
        @secret ||= rails_secret || ENV["TASKER_WEB_SECRET"] || SecureRandom.hex(32)
      end

      # @param value [String]
      attr_writer :secret

      # Rack entry point of the mounted dashboard (`mount TaskerCore::Web => "/tasker"`).
      # @param env [Hash] the Rack environment
      # @return [Array] a Rack response
      def call(env)
        (@app ||= App.new).call(env)
      end

      private

      def rails_secret
        return unless defined?(::Rails) && ::Rails.respond_to?(:application) && ::Rails.application

        ::Rails.application.secret_key_base
      rescue StandardError
        nil
      end
    end
  end
end
