# frozen_string_literal: true

require "json"

module TaskerCore
  class CLI
    # What the commands that look at or act on stored tasks share (`status`, `tasks`, `task`,
    # `graph --task`, `retry`, `cancel`, `resolve`): `--database-url` and `--json`, and an
    # engine opened on the database for the while, running no handlers and recovering
    # nothing.
    #
    # A reading command opens a SQLite file read-only (`?mode=ro`), so it works beside the
    # worker process that holds the file; a command that changes a task needs the file to
    # itself (one engine process per SQLite file), and on PostgreSQL joins as a client.
    class DatabaseCommand < Command
      # A task's or step's states (TASKER.md), known before the extension loads.
      STATES = %w[pending in_progress complete error cancelled resolved_manually].freeze

      # @param argv [Array<String>]
      # @param out [IO]
      # @param err [IO]
      def initialize(argv, out: $stdout, err: $stderr)
        super
        @database_url = nil
        @json = false
      end

      # Parses, runs, and turns a failure into one line on stderr and exit status 1.
      # @return [Integer]
      def run
        super
      rescue Failure => e
        @err.puts "tasker-core #{name}: #{e.message.to_s.lines.map(&:strip).reject(&:empty?).join(' | ')}"
        CLI::EXIT_FAILURE
      end

      private

      # Whether the command changes tasks (opens the store for writing).
      def writes? = false

      # Template files or directories the engine registers (an operation drives the task
      # with its template).
      def templates = []

      def define_options(parser)
        define_command_options(parser)
        parser.separator ""
        parser.separator "Database:"
        parser.on("-d", "--database-url URL", "Where tasks live (default: TASKER_DATABASE_URL, else " \
                                              "sqlite://./tasker_core.sqlite3)") do |v|
          @database_url = database_url("--database-url", v)
        end
        parser.on("--json", "Print JSON instead of text") { @json = true } unless writes?
      end

      # A subclass's own options.
      def define_command_options(_parser); end

      def execute(*args)
        require_relative "../../tasker_core"
        engine = open_engine
        begin
          perform(engine, *args)
        rescue TaskerCore::Error => e
          raise Failure, e.message
        ensure
          engine.close(timeout: 10)
        end
      end

      def open_engine
        url = @database_url || ENV.fetch("TASKER_DATABASE_URL") do
          "sqlite://#{File.expand_path(Engine::DEFAULT_DATABASE_FILE)}"
        end
        if url.start_with?("memory:")
          raise Failure, "memory: lives inside the process that runs it; point --database-url at its SQLite file " \
                         "or PostgreSQL database"
        end
        url = sqlite_url(url) if url.start_with?("sqlite:")
        role = url.start_with?("postgres") ? :client : :worker
        # Opening may migrate (an upgrade builds indexes over the whole history).
        progress.during("opening #{Engine.redact(url)}") do
          Engine.start(database_url: url, workers: 0, ractors: 0, recover: false, instrument: false, role: role,
                       templates: templates)
        end
      rescue TaskerCore::Error => e
        raise Failure, "could not open #{Engine.redact(url)}: #{e.message}"
      end

      # A SQLite file must exist (opening would create an empty one); read-only unless the
      # command writes.
      def sqlite_url(url)
        path = url.sub(%r{\Asqlite:(//)?}, "").split("?", 2).first
        raise Failure, "no SQLite database at #{path}" unless path == ":memory:" || File.exist?(path)
        return url if writes? || url.match?(/[?&]mode=/)

        "#{url}#{url.include?('?') ? '&' : '?'}mode=ro"
      end

      def id(option, value) = integer(option, value, min: 1)

      def print_json(value)
        @out.puts JSON.pretty_generate(value)
        CLI::EXIT_OK
      end

      # Rows as aligned columns under a header.
      def print_table(headers, rows)
        widths = headers.each_index.map { |i| ([headers[i]] + rows.map { |r| r[i] }).map { |c| c.to_s.length }.max }
        [headers, *rows].each do |row|
          @out.puts row.each_with_index.map { |cell, i| cell.to_s.ljust(widths[i]) }.join("  ").rstrip
        end
      end

      def time(value) = value.respond_to?(:utc) ? value.utc.iso8601 : value.to_s
    end
  end
end
