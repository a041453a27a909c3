# frozen_string_literal: true

module TaskerCore
  module Web
    # Who may see and operate the dashboard. The app decides, through a hook called with
    # each request; with no hook the dashboard is open in development and test and closed
    # in production (as Mission Control does), because an open dashboard there would let
    # anyone cancel an app's workflows.
    module Authorization
      # What a closed dashboard says: how to open it.
      CLOSED = "The tasker-core dashboard is closed in production until the app says who may use it: " \
               "set TaskerCore::Web.authorize = ->(request) { ... } (return true to let the request in), " \
               "or mount it inside a route constraint that authenticates."

      module_function

      # @param request [Rack::Request]
      # @param hook [#call, nil]
      # @return [void]
      # @raise [HttpError] 403
      def check!(request, hook)
        if hook
          raise HttpError.new(403, "Not authorized to use the tasker-core dashboard.") unless hook.call(request)
        elsif production?
          raise HttpError.new(403, CLOSED)
        end
      end

      # @return [Boolean] whether the process runs in production
      def production?
        return ::Rails.env.production? if defined?(::Rails) && ::Rails.respond_to?(:env) && ::Rails.env

        [ENV["RAILS_ENV"], ENV["RACK_ENV"]].include?("production")
      end
    end
  end
end
