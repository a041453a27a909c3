# frozen_string_literal: true

module TaskerCore
  class CLI
    # `tasker-core web`: the dashboard ({TaskerCore::Web}) on WEBrick, on its own, against
    # a database, until INT or TERM. It opens the store as the operations commands do
    # (`retry`, `cancel`, `resolve` need the task's template, hence `--templates`) and runs
    # no handlers: work resumed from the page is run by the app's workers.
    class Web < DatabaseCommand
      # One line for `tasker-core --help`.
      SUMMARY = "Serve the web dashboard (tasks, DAGs, retries) on WEBrick"

      # @param argv [Array<String>]
      # @param out [IO]
      # @param err [IO]
      def initialize(argv, out: $stdout, err: $stderr)
        super
        @templates = []
        @port = 9292
        @bind = "127.0.0.1"
      end

      private

      def writes? = true
      attr_reader :templates

      def define_command_options(parser)
        parser.on("-t", "--templates PATH", "Template file or directory, to drive tasks retried from the page. Repeatable") do |v|
          @templates << existing_path("--templates", v)
        end
        parser.on("-p", "--port N", "Port to listen on (default 9292; 0 for a free one)") do |v|
          @port = integer("--port", v, min: 0)
        end
        parser.on("-b", "--bind HOST", "Address to listen on (default 127.0.0.1)") { |v| @bind = v }
      end

      # Before the store is opened (a SQLite file's lock, PostgreSQL's migrations): outside
      # development and test a missing key stops the command here, with the message saying
      # how to set one (Web.secret).
      def execute(*args)
        require_relative "../../tasker_core"
        require_relative "../web"
        begin
          TaskerCore::Web.secret
        rescue TaskerCore::Error => e
          raise Failure, e.message
        end
        super
      end

      def perform(engine)
        server = TaskerCore::Web::Server.new(TaskerCore::Web::App.new(engine: engine), host: @bind, port: @port, log: @err)
        begin
          server.start
        rescue SystemCallError => e
          raise Failure, "could not listen on #{@bind}:#{@port}: #{e.message}"
        end
        @out.puts "tasker-core web: serving #{Engine.redact(engine.database_url.to_s)} on #{server.url}/ (Ctrl-C stops)"
        @out.flush
        stop = Queue.new
        %w[INT TERM].each { |signal| trap(signal) { stop << signal } }
        stop.pop
        server.stop
        CLI::EXIT_OK
      end
    end
  end
end
