# frozen_string_literal: true

module TaskerCore
  module Web
    # The dashboard's Rack app: checks who asks ({Authorization}), checks a POST's CSRF
    # token ({Csrf}) before anything else, routes to a page or an action, and turns every
    # failure into an error page with a status and a message (never a backtrace: the
    # backtrace goes to rack.errors, the server's log).
    #
    # Pages and actions do the work; this class only decides which runs.
    class App
      # What a page needs to render: the engine, the request, the mount point, the form token.
      View = Struct.new(:engine, :request, :base, :token)

      # The largest id the store's BIGINT keys hold.
      MAX_ID = (2**63) - 1
      # What Rack raises for a query string or form body it cannot parse: a 400, not a 500.
      MALFORMED = [EOFError, (Rack::Utils::InvalidParameterError if defined?(Rack::Utils::InvalidParameterError)),
                   (Rack::Utils::ParameterTypeError if defined?(Rack::Utils::ParameterTypeError)),
                   (Rack::QueryParser::ParamsTooDeepError if defined?(Rack::QueryParser::ParamsTooDeepError))]
                  .compact.freeze

      # The task, or a 404 naming the id.
      # @param engine [TaskerCore::Engine]
      # @param task_id [Integer]
      # @return [TaskerCore::Task]
      # @raise [HttpError] 404
      def self.find_task(engine, task_id)
        engine.task(task_id)
      rescue ValidationError
        raise HttpError.new(404, "No task #{task_id} in this store.")
      end

      # @param engine [TaskerCore::Engine, nil] the engine to read; nil: the process-wide
      #   one ({TaskerCore.engine}), looked up on each request
      # @param authorize [#call, nil] overrides {Web.authorize}
      # @param secret [String, nil] overrides {Web.secret}
      def initialize(engine: nil, authorize: nil, secret: nil)
        @engine = engine
        @authorize = authorize
        @secret = secret
      end

      # @param env [Hash]
      # @return [Array] a Rack response
      def call(env)
        request = Rack::Request.new(env)
        csrf = session = fresh = nil
        response = begin
          csrf = Csrf.new(@secret || Web.secret)
          session = csrf.session_id(request)
          # A first visit gets a session now: its forms carry the token of the cookie this
          # response sets. A POST never passes with it (verify! reads the request's cookie).
          fresh = session.nil?
          session ||= csrf.new_session_id
          Authorization.check!(request, @authorize || Web.authorize)
          csrf.verify!(request) if request.post?
          route(request, View.new(nil, request, request.script_name.to_s, csrf.token(session)))
        rescue HttpError => e
          error_page(request, e.status, e.message)
        rescue *MALFORMED => e
          error_page(request, 400, "Malformed request (#{e.class.name.split('::').last}).")
        rescue TaskerCore::Error => e
          error_page(request, 500, "#{e.class.name.split('::').last}: #{e.message}")
        rescue StandardError => e
          env["rack.errors"]&.puts("tasker-core web: #{e.class}: #{e.message}\n#{e.backtrace&.first(20)&.join("\n")}")
          error_page(request, 500, "Internal error (#{e.class}); the details are in the server's log.")
        end
        if fresh
          response[1]["set-cookie"] = csrf.cookie(session, path: request.script_name.to_s, secure: request.ssl?)
        end
        response
      end

      private

      def route(request, view)
        path = request.path_info.to_s.sub(%r{/+\z}, "")
        return post(path, view.tap { |v| v.engine = engine }) if request.post?
        raise HttpError.new(405, "#{request.request_method} is not allowed here.") unless request.get? || request.head?

        page = case path
               when "" then -> { Pages::Overview.new(view) }
               when "/tasks" then -> { Pages::TaskList.new(view) }
               when "/processes" then -> { Pages::Processes.new(view) }
               when %r{\A/tasks/([^/]+)\z}
                 id = id_of(Regexp.last_match(1), "task")
                 -> { Pages::TaskPage.new(view, id) }
               else raise HttpError.new(404, "No page at #{path}.")
               end
        view.engine = engine
        title, body = page.call.render
        html(200, Html.layout(title: title, base: view.base, body: body))
      end

      def post(path, view)
        actions = Actions.new(view)
        task_id, done = case path
                        when %r{\A/steps/([^/]+)/retry\z} then actions.retry_step(id_of(Regexp.last_match(1), "step"))
                        when %r{\A/tasks/([^/]+)/cancel\z} then actions.cancel(id_of(Regexp.last_match(1), "task"))
                        when %r{\A/tasks/([^/]+)/resolve\z} then actions.resolve(id_of(Regexp.last_match(1), "task"))
                        else raise HttpError.new(404, "No action at #{path}.")
                        end
        [303, { "location" => Html.url(view.base, "/tasks/#{task_id}", done: done), "content-type" => "text/plain" }, []]
      end

      def id_of(text, what)
        id = Integer(text, 10, exception: false)
        raise HttpError.new(404, "No #{what} #{text.inspect}: #{what} ids are whole numbers.") unless id&.positive?
        raise HttpError.new(404, "No #{what} #{id} in this store.") if id > MAX_ID

        id
      end

      def engine
        @engine || TaskerCore.engine ||
          raise(HttpError.new(503, "TaskerCore is not started in this process: start it (TaskerCore.start, or the " \
                                   "Rails initializer) before serving the dashboard."))
      end

      def error_page(request, status, message)
        title = Rack::Utils::HTTP_STATUS_CODES.fetch(status, "Error")
        body = %(<h1>#{status} #{Html.h(title)}</h1><div class="error-page" id="error">#{Html.h(message)}</div>)
        html(status, Html.layout(title: title, base: request.script_name.to_s, body: body))
      end

      # Header names in lower case, as Rack 3 requires (Rack 2 accepts them too).
      def html(status, body)
        [status, { "content-type" => "text/html; charset=utf-8", "cache-control" => "no-store",
                   "x-content-type-options" => "nosniff", "x-frame-options" => "SAMEORIGIN",
                   "content-security-policy" => Html::CONTENT_SECURITY_POLICY }, [body]]
      end
    end
  end
end
