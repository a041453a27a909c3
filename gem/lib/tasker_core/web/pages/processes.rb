# frozen_string_literal: true

module TaskerCore
  module Web
    module Pages
      # `/processes`: the engine processes sharing a PostgreSQL database, as of their last
      # heartbeats (docs/processes.md). One process on SQLite: the page says so.
      class Processes
        include Html

        COLUMNS = %i[id hostname pid role started_at heartbeat_age_seconds alive capacity steps_in_flight
                     claimed_tasks version].freeze

        # @param view [App::View]
        def initialize(view)
          @view = view
        end

        # @return [Array(String, String)] title and body
        def render
          processes = Insights::Processes.all(engine: @view.engine)
          ["Processes", <<~HTML]
            <h1>Processes</h1>
            #{processes.empty? ? empty : table(processes)}
          HTML
        end

        private

        def empty
          %(<p class="muted">No process table: this store (#{h(Engine.redact(@view.engine.database_url.to_s))}) is used by one process at a time. ) +
            %(Several processes share PostgreSQL only.</p>)
        end

        def table(processes)
          head = COLUMNS.map { |c| "<th>#{h(c.to_s.tr('_', ' '))}</th>" }.join
          rows = processes.map do |p|
            cells = COLUMNS.map do |c|
              v = p.public_send(c)
              v = time(v) if v.respond_to?(:utc)
              v = format("%.1f", v) if v.is_a?(Float)
              %(<td>#{c == :alive ? (v ? 'yes' : '<strong>no</strong>') : h(v)}</td>)
            end
            "<tr>#{cells.join}</tr>"
          end
          %(<table id="processes"><tr>#{head}</tr>#{rows.join}</table>)
        end
      end
    end
  end
end
