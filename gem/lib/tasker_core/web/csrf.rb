# frozen_string_literal: true

require "openssl"
require "securerandom"

module TaskerCore
  module Web
    # CSRF protection for the dashboard's POSTs without a session store: each browser gets
    # a random session id in a signed cookie (HttpOnly, SameSite=Lax), and every form
    # carries a token derived from it with an HMAC of the secret. A POST whose cookie is
    # missing or forged, or whose token does not match, is refused before anything is read
    # or changed. Another site can make a browser send the cookie but cannot read the
    # token, so it cannot forge the form.
    class Csrf
      # The cookie's name.
      COOKIE = "tasker_web_session"
      # The form field's name.
      FIELD = "authenticity_token"

      # @param secret [String]
      def initialize(secret)
        raise ConfigurationError, "TaskerCore::Web secret must be a String of 16+ characters" unless secret.is_a?(String) && secret.size >= 16

        @secret = secret
      end

      # The request's session id, when its cookie is present and correctly signed.
      # @param request [Rack::Request]
      # @return [String, nil]
      def session_id(request)
        value = request.cookies[COOKIE].to_s
        id, signature = value.split(".", 2)
        return nil unless id && signature && id.match?(/\A\h{32}\z/)

        Rack::Utils.secure_compare(sign("session|#{id}"), signature) ? id : nil
      end

      # A new session id.
      # @return [String]
      def new_session_id = SecureRandom.hex(16)

      # The cookie that carries `id`.
      # @param id [String]
      # @param path [String] the mount point
      # @param secure [Boolean] whether the request came over HTTPS
      # @return [String] a Set-Cookie value
      def cookie(id, path:, secure:)
        "#{COOKIE}=#{id}.#{sign("session|#{id}")}; path=#{path.empty? ? '/' : path}; HttpOnly; SameSite=Lax#{'; Secure' if secure}"
      end

      # The form token of session `id`.
      # @param id [String]
      # @return [String]
      def token(id) = sign("csrf|#{id}")

      # @param request [Rack::Request] a POST
      # @return [void]
      # @raise [HttpError] 403 when the cookie or the token is missing or wrong
      def verify!(request)
        id = session_id(request)
        given = request.POST[FIELD].to_s
        return if id && !given.empty? && Rack::Utils.secure_compare(token(id), given)

        raise HttpError.new(403, "Refused: the form's CSRF token is missing or does not match this browser's session. " \
                                 "Reload the page and try again; nothing was changed.")
      end

      private

      def sign(text) = OpenSSL::HMAC.hexdigest("SHA256", @secret, text)
    end
  end
end
