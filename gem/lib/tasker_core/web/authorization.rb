# frozen_string_literal: true

module TaskerCore
  module Web
    # Who may see and operate the dashboard. The app decides, through a hook called with
    # each request; with no hook the dashboard is open in development and test only and
    # closed everywhere else (production, staging, …; as Mission Control does), because an
    # open dashboard there would let anyone cancel an app's workflows.
    module Authorization
      # What a closed dashboard says: how to open it.
      CLOSED = "The tasker-core dashboard is closed outside development and test until the app says who " \
               "may use it: set TaskerCore::Web.authorize = ->(request) { ... } (return true to let the " \
               "request in; when a route constraint that authenticates guards the mount, ->(_) { true })."
      # Environments where the dashboard is open without a hook.
      OPEN_IN = %w[development test].freeze

      module_function

      # @param request [Rack::Request]
      # @param hook [#call, nil]
      # @return [void]
      # @raise [HttpError] 403
      def check!(request, hook)
        if hook
          raise HttpError.new(403, "Not authorized to use the tasker-core dashboard.") unless hook.call(request)
        elsif !open_without_hook?
          raise HttpError.new(403, CLOSED)
        end
      end

      # @return [Boolean] whether the process runs in development or test (Rails.env, else
      #   RAILS_ENV, APP_ENV or RACK_ENV; none set counts as development, Rack's default)
      def open_without_hook?
        env = (::Rails.env.to_s if defined?(::Rails) && ::Rails.respond_to?(:env) && ::Rails.env)
        env ||= ENV["RAILS_ENV"] || ENV["APP_ENV"] || ENV["RACK_ENV"] || "development"
        OPEN_IN.include?(env)
      end
    end
  end
end
