# frozen_string_literal: true

module TaskerCore
  module Web
    module Pages
      # `/`: how the store is doing — tasks and steps by state, steps/s and failed tasks
      # over the last hour, the slowest steps and tasks of the last day.
      class Overview
        include Html

        # @param view [App::View]
        def initialize(view)
          @view = view
        end

        # @return [Array(String, String)] title and body
        def render
          status = StoreStatus.read(@view.engine)
          ["Overview", <<~HTML]
            <h1>Overview</h1>
            <h2>Tasks and steps by state</h2>
            #{counts(status)}
            <p class="muted">#{status.processes.count(&:alive)} other engine process(es) alive on this database ·
            <a href="#{h(url(@view.base, '/processes'))}">processes</a></p>
            <h2>Steps completed per second and tasks failed, last hour (5-minute intervals)</h2>
            #{Chart.render(Throughput.new(@view.engine).buckets)}
            <h2>Slowest steps, last 24 hours</h2>
            #{slowest_steps}
            <h2>Slowest tasks, last 24 hours</h2>
            #{slowest_tasks}
          HTML
        end

        private

        def counts(status)
          rows = status.counts.map do |state, tasks, steps|
            label = state == "total" ? "total" : %(<a href="#{h(url(@view.base, '/tasks', state: state))}">#{badge(state)}</a>)
            %(<tr><td>#{label}</td><td class="num">#{h(tasks)}</td><td class="num">#{h(steps)}</td></tr>)
          end
          %(<table id="health"><tr><th>state</th><th>tasks</th><th>steps</th></tr>#{rows.join}</table>)
        end

        def slowest_steps
          rows = Insights::SlowestSteps.query(engine: @view.engine) { |q| q.limit = 5 }
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
          rows = Insights::SlowestTasks.query(engine: @view.engine) { |q| q.limit = 5 }
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
