# frozen_string_literal: true

module TaskerCore
  module Web
    module Pages
      # `/tasks`: stored tasks, newest first, filtered by state, namespace, name and age, a
      # page at a time. Paging is by keyset ("older →" asks for ids below the page's last),
      # so a page deep in millions of tasks costs what the first one does.
      class TaskList
        include Html

        # Tasks per page unless `limit` says otherwise.
        PER_PAGE = 50
        # The largest `limit` accepted.
        MAX_PER_PAGE = 500

        # @param view [App::View]
        def initialize(view)
          @view = view
          @params = view.request.GET
        end

        # @return [Array(String, String)] title and body
        # @raise [HttpError] 400 for a bad filter
        def render
          filter = self.filter
          # One more than shown tells whether an older page exists.
          rows = @view.engine.tasks(**filter, limit: filter[:limit] + 1)
          more = rows.size > filter[:limit]
          rows = rows.first(filter[:limit])
          ["Tasks", <<~HTML]
            <h1>Tasks</h1>
            #{form}
            #{rows.empty? ? '<p class="muted" id="no-tasks">No tasks match.</p>' : table(rows)}
            <p class="pager">#{pager(rows, more)}</p>
          HTML
        end

        # The keywords of `Engine#tasks` from the query string.
        # @return [Hash]
        # @raise [HttpError] 400 naming the bad filter
        def filter
          f = { limit: PER_PAGE }
          f[:state] = TaskFilter.state(param("state")) if param("state")
          f[:namespace] = param("namespace") if param("namespace")
          f[:name] = param("name") if param("name")
          f[:since] = TaskFilter.since(param("since")) if param("since")
          f[:before] = TaskFilter.integer("before", param("before"), min: 1, max: App::MAX_ID) if param("before")
          f[:limit] = TaskFilter.integer("limit", param("limit"), min: 1, max: MAX_PER_PAGE) if param("limit")
          f
        rescue ArgumentError => e
          raise HttpError.new(400, "Bad filter: #{e.message}.")
        end

        private

        def param(name)
          value = @params[name]
          value.is_a?(String) && !value.strip.empty? ? value.strip : nil
        end

        def form
          options = ([""] + TaskFilter::STATES).map do |s|
            %(<option value="#{h(s)}"#{' selected' if s == param('state').to_s}>#{s.empty? ? 'any' : h(s)}</option>)
          end
          <<~HTML
            <form class="filters" method="get" action="#{h(url(@view.base, '/tasks'))}">
            <label>state <select name="state">#{options.join}</select></label>
            <label>namespace <input name="namespace" value="#{h(param('namespace'))}" size="12"></label>
            <label>name <input name="name" value="#{h(param('name'))}" size="14"></label>
            <label>since <input name="since" value="#{h(param('since'))}" size="14" placeholder="2h, 7d or ISO 8601"></label>
            <label>per page <input name="limit" value="#{h(param('limit'))}" size="4" placeholder="#{PER_PAGE}"></label>
            <button type="submit">Filter</button>
            </form>
          HTML
        end

        def table(rows)
          body = rows.map do |r|
            link = h(url(@view.base, "/tasks/#{r['task_id']}"))
            %(<tr><td class="num"><a href="#{link}">#{h(r['task_id'])}</a></td><td>#{h(r['namespace'])}</td>) +
              %(<td><a href="#{link}">#{h(r['name'])}</a></td><td>#{h(r['version'])}</td><td>#{badge(r['state'])}</td>) +
              %(<td>#{time(r['state_since'])}</td><td>#{time(r['created_at'])}</td></tr>)
          end
          %(<table id="tasks"><tr><th>id</th><th>namespace</th><th>name</th><th>version</th><th>state</th><th>since</th><th>created</th></tr>#{body.join}</table>)
        end

        def pager(rows, more)
          keep = %w[state namespace name since limit].to_h { |k| [k, param(k)] }
          links = []
          links << %(<a href="#{h(url(@view.base, '/tasks', keep))}">← newest</a>) if param("before")
          links << %(<a id="older" href="#{h(url(@view.base, '/tasks', keep.merge('before' => rows.last['task_id'])))}">older →</a>) if more
          links.join(" · ")
        end
      end
    end
  end
end
