# frozen_string_literal: true

module TaskerCore
  module Web
    # A request the dashboard answers with an error page instead of the page asked for:
    # an unknown task (404), a bad filter (400), a refused POST (403), an operation the
    # task's state does not allow (409). The message is shown to the user, so it names the
    # thing at fault and never carries a backtrace.
    class HttpError < StandardError
      # @return [Integer] the HTTP status
      attr_reader :status

      # @param status [Integer]
      # @param message [String]
      def initialize(status, message)
        super(message)
        @status = status
      end
    end
  end
end
