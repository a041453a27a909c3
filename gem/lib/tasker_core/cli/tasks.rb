# frozen_string_literal: true

require_relative "../task_filter"

module TaskerCore
  class CLI
    # `tasker-core tasks`: stored tasks, newest first, filtered, a page at a time; a full
    # page ends with the `--before` that shows the next.
    class Tasks < DatabaseCommand
      # One line for `tasker-core --help`.
      SUMMARY = "List stored tasks, newest first (--state, --namespace, --name, --since, --limit, --before)"

      # @param argv [Array<String>]
      # @param out [IO]
      # @param err [IO]
      def initialize(argv, out: $stdout, err: $stderr)
        super
        @filter = { limit: 50 }
      end

      private

      def define_command_options(parser)
        parser.on("-s", "--state STATE", "Only tasks in this state (#{STATES.join(', ')})") do |v|
          @filter[:state] = filter_value { TaskerCore::TaskFilter.state(v) }
        end
        parser.on("-n", "--namespace NAME", "Only tasks of templates in this namespace") { |v| @filter[:namespace] = v }
        parser.on("--name NAME", "Only tasks of templates with this name") { |v| @filter[:name] = v }
        parser.on("--since TIME", "Only tasks created at or after TIME (ISO 8601, or 30m, 2h, 7d ago)") do |v|
          @filter[:since] = since(v)
        end
        parser.on("-l", "--limit N", "At most N tasks (default 50)") { |v| @filter[:limit] = integer("--limit", v, min: 1) }
        parser.on("--before ID", "Only tasks with a smaller id: the next page after ID") do |v|
          @filter[:before] = id("--before", v)
        end
      end

      def since(value) = filter_value { TaskerCore::TaskFilter.since(value) }

      # TaskFilter names the filter ("since X: ..."); the command line calls it an option.
      def filter_value
        yield
      rescue ArgumentError => e
        raise UsageError, "--#{e.message}"
      end

      def perform(engine)
        rows = progress.during("reading tasks") { engine.tasks(**@filter) }
        return print_json(rows.map { |r| r.transform_values { |v| v.respond_to?(:iso8601) ? v.iso8601(6) : v } }) if @json

        if rows.empty?
          @out.puts "no tasks"
          return CLI::EXIT_OK
        end
        print_table(%w[id namespace name version state since created], rows.map do |r|
          [r["task_id"], r["namespace"], r["name"], r["version"], r["state"], time(r["state_since"]), time(r["created_at"])]
        end)
        @out.puts "more: --before #{rows.last['task_id']}" if rows.size == @filter[:limit]
        CLI::EXIT_OK
      end
    end
  end
end
