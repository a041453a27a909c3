# frozen_string_literal: true

require_relative "../store_status"

module TaskerCore
  class CLI
    # `tasker-core status`: how many tasks and steps the database holds in each state, and
    # on PostgreSQL the engine processes that share it (with their heartbeats and claims).
    class Status < DatabaseCommand
      # One line for `tasker-core --help`.
      SUMMARY = "Tasks and steps by state, and (PostgreSQL) the processes sharing the database"

      private

      def perform(engine)
        status = progress.during("counting tasks and steps") { TaskerCore::StoreStatus.read(engine) }
        health = status.health
        processes = status.processes
        return print_json(health: health, processes: processes.map { |p| json_ready(p) }) if @json

        @out.puts "database  #{engine.database_url}"
        print_table(%w[states tasks steps], status.counts)
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
