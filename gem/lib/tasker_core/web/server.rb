# frozen_string_literal: true

begin
  require "webrick"
  require "rack/handler/webrick"
rescue LoadError
  # Ruby 3 no longer bundles WEBrick; only `tasker-core web` needs it.
  raise TaskerCore::ConfigurationError, "tasker-core web needs the webrick gem (gem \"webrick\"; Debian: ruby-webrick)"
end

module TaskerCore
  module Web
    # Serves a Rack app (the dashboard) on WEBrick in a thread of its own: what
    # `tasker-core web` runs, and what the browser spec starts on a free port.
    #
    # It only serves: it does not open or close the engine the app reads.
    class Server
      # @return [String]
      attr_reader :host

      # @param app [#call] a Rack app
      # @param host [String] the address to listen on
      # @param port [Integer] 0 for a free one
      # @param log [IO, nil] where WEBrick's log and access log go (nil: nowhere)
      def initialize(app, host: "127.0.0.1", port: 0, log: nil)
        @app = app
        @host = host
        @port = port
        @log = log
        @server = nil
        @thread = nil
      end

      # Binds and starts serving; returns once the port is listening.
      # @return [self]
      def start
        logger = WEBrick::Log.new(@log || File::NULL, @log ? WEBrick::Log::INFO : WEBrick::Log::FATAL)
        access = @log ? [[@log, WEBrick::AccessLog::COMMON_LOG_FORMAT]] : []
        @server = WEBrick::HTTPServer.new(BindAddress: @host, Port: @port, Logger: logger, AccessLog: access)
        @server.mount("/", Rack::Handler::WEBrick, @app)
        @thread = Thread.new { @server.start }
        @thread.name = "tasker-web"
        self
      end

      # The port it listens on (the free one chosen when started with 0).
      # @return [Integer]
      def port = @server.config[:Port]

      # @return [String] http://host:port
      def url = "http://#{@host.include?(':') ? "[#{@host}]" : @host}:#{port}"

      # Blocks until the server stops (from another thread or a signal).
      # @return [void]
      def wait = @thread&.join

      # Stops taking requests and waits for the serving thread (at most `timeout` seconds).
      # @param timeout [Numeric]
      # @return [void]
      def stop(timeout: 5)
        @server&.shutdown
        @thread&.join(timeout)
      end
    end
  end
end
