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

      # What {secret} says outside development and test when no key is given.
      SECRET_MISSING = "TaskerCore::Web has no secret to sign its forms with: set TASKER_WEB_SECRET (32 or more " \
                       "random characters, e.g. from `openssl rand -hex 32`, the same in every process that serves " \
                       "the dashboard) or TaskerCore::Web.secret = ... (under Rails it is secret_key_base). A key " \
                       "made up per process would refuse forms posted to another process or after a restart."

      # The key the CSRF tokens are signed with; it must be the same in every process that
      # serves the dashboard and across restarts, or a form rendered by one is refused by
      # another. Set it, or it is Rails' `secret_key_base` when Rails runs, else
      # TASKER_WEB_SECRET. Without any of them: in development and test (as
      # {Authorization.open_without_hook?} decides) a random key made once per process;
      # elsewhere an error ({SECRET_MISSING}), so that `tasker-core web` refuses to start and
      # a mounted dashboard answers every request with that message, rather than break forms.
      # @return [String]
      # @raise [ConfigurationError] outside development and test with no key
      def secret
        @secret ||= rails_secret || ENV["TASKER_WEB_SECRET"].then { |s| s unless s.to_s.empty? } || made_up_secret
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

      def made_up_secret
        raise ConfigurationError, SECRET_MISSING unless Authorization.open_without_hook?

        SecureRandom.hex(32)
      end

      def rails_secret
        return unless defined?(::Rails) && ::Rails.respond_to?(:application) && ::Rails.application

        ::Rails.application.secret_key_base
      rescue StandardError
        nil
      end
    end
  end
end
