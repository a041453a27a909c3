# frozen_string_literal: true

module TaskerCore
  module Web
    module Pages
      # `/`: how the store is doing — tasks by state (and steps, on a small store), steps/s
      # and failed tasks over the last hour, the slowest steps and tasks of the last hour.
      #
      # Every part reads a bounded range of an index (the current states' up to CAP, the
      # finished transitions of the last hour), so the page costs about the same on a store
      # of a thousand tasks or millions.
      class Overview
        include Html

        # Tasks counted per state before the overview stops counting (StoreStatus.glance): a
        # bounded read of an index, so the page costs the same at a thousand tasks or millions.
        CAP = 1000
        # How far back the slowest steps and tasks look.
        SLOWEST_WINDOW = 3600

        # @param view [App::View]
        def initialize(view)
          @view = view
        end

        # @return [Array(String, String)] title and body
        def render
          status = StoreStatus.glance(@view.engine, cap: CAP)
          ["Overview", <<~HTML]
            <h1>Overview</h1>
            <h2>Tasks and steps by state</h2>
            #{counts(status)}
            <p class="muted">#{status.processes.count(&:alive)} other engine process(es) alive on this database ·
            <a href="#{h(url(@view.base, '/processes'))}">processes</a></p>
            <h2>Steps completed per second and tasks failed, last hour (5-minute intervals)</h2>
            #{Chart.render(Throughput.new(@view.engine).buckets)}
            <h2>Slowest steps, last hour</h2>
            #{slowest_steps}
            <h2>Slowest tasks, last hour</h2>
            #{slowest_tasks}
          HTML
        end

        private

        # A large store's counts stop at its cap (StoreStatus.glance): "more than 1000", and no
        # steps column; `tasker-core status` counts everything.
        def counts(status)
          cap = status.cap
          rows = status.counts.map do |state, tasks, steps|
            label = state == "total" ? "total" : %(<a href="#{h(url(@view.base, '/tasks', state: state))}">#{badge(state)}</a>)
            shown = cap && (state == "total" || tasks > cap) ? "more than #{cap}" : tasks
            %(<tr><td>#{label}</td><td class="num">#{h(shown)}</td>#{%(<td class="num">#{h(steps)}</td>) unless cap}</tr>)
          end
          head = %(<tr><th>state</th><th>tasks</th>#{'<th>steps</th>' unless cap}</tr>)
          note = cap ? %(<p class="muted" id="capped">Counted up to #{cap} per state; exact counts of tasks and steps: <code>tasker-core status</code>.</p>) : ""
          %(<table id="health">#{head}#{rows.join}</table>#{note})
        end

        def slowest_steps
          rows = Insights::SlowestSteps.query(engine: @view.engine) do |q|
            q.limit = 5
            q.time_range = SLOWEST_WINDOW
          end
          return %(<p class="muted">no finished steps</p>) if rows.empty?

          body = rows.map do |s|
            %(<tr><td><a href="#{h(url(@view.base, "/tasks/#{s.task_id}"))}">#{h(s.task_id)}</a></td>) +
              %(<td>#{h(s.namespace_name)}/#{h(s.task_name)}</td><td>#{h(s.step_name)}</td>) +
              %(<td class="num">#{format('%.3f', s.duration_seconds)}</td><td class="num">#{s.avg_duration_ms ? format('%.1f', s.avg_duration_ms) : ''}</td>) +
              %(<td class="num">#{h(s.execution_count)}</td><td>#{badge(s.step_status)}</td></tr>)
          end
          %(<table><tr><th>task</th><th>template</th><th>step</th><th>seconds</th><th>avg ms</th><th>runs</th><th>state</th></tr>#{body.join}</table>)
        end

        def slowest_tasks
          rows = Insights::SlowestTasks.query(engine: @view.engine) do |q|
            q.limit = 5
            q.time_range = SLOWEST_WINDOW
          end
          return %(<p class="muted">no finished tasks</p>) if rows.empty?

          body = rows.map do |t|
            %(<tr><td><a href="#{h(url(@view.base, "/tasks/#{t.task_id}"))}">#{h(t.task_id)}</a></td>) +
              %(<td>#{h(t.namespace_name)}/#{h(t.task_name)}@#{h(t.version)}</td>) +
              %(<td class="num">#{format('%.3f', t.duration_seconds)}</td><td class="num">#{h(t.completed_steps)}/#{h(t.step_count)}</td>) +
              %(<td>#{badge(t.task_status)}</td></tr>)
          end
          %(<table><tr><th>task</th><th>template</th><th>seconds</th><th>steps done</th><th>state</th></tr>#{body.join}</table>)
        end
      end
    end
  end
end
