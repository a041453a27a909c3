# frozen_string_literal: true

require "socket"

module TaskerCore
  class CLI
    # `tasker-core status`: how many tasks and steps the database holds in each state, and
    # on PostgreSQL the engine processes that share it (with their heartbeats and claims).
    class Status < DatabaseCommand
      # One line for `tasker-core --help`.
      SUMMARY = "Tasks and steps by state, and (PostgreSQL) the processes sharing the database"

      private

      def perform(engine)
        health = Insights::SystemHealthCounts.from_store(engine: engine).to_h
        # Not this command's own (client) process.
        processes = Insights::Processes.all(engine: engine).reject do |p|
          p.pid == ::Process.pid && p.hostname == Socket.gethostname
        end
        return print_json(health: health, processes: processes.map { |p| json_ready(p) }) if @json

        @out.puts "database  #{engine.database_url}"
        print_table(%w[states tasks steps], STATES.map do |state|
          [state, health[:"#{state}_tasks"], health[:"#{state}_steps"]]
        end + [["total", health[:total_tasks], health[:total_steps]]])
        @out.puts "retryable errors #{health[:retryable_error_steps]}, retries exhausted #{health[:exhausted_retry_steps]}"
        return CLI::EXIT_OK if processes.empty?

        @out.puts
        print_table(process_headers(processes), processes.map { |p| p.to_h.values.map { |v| time(v) } })
        CLI::EXIT_OK
      end

      def process_headers(processes) = processes.first.to_h.keys.map(&:to_s)

      def json_ready(process) = process.to_h.transform_values { |v| v.respond_to?(:iso8601) ? v.iso8601 : v }
    end
  end
end
