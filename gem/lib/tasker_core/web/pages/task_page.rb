# frozen_string_literal: true

module TaskerCore
  module Web
    module Pages
      # `/tasks/:id`: one task — its DAG coloured by state (critical path and failed steps
      # marked), each step's attempts, errors and results, the merged transition history,
      # and the manual operations its state allows, as confirmed POST forms.
      class TaskPage
        include Html

        # Task states the page offers to cancel from (TASKER.md also allows complete and
        # resolved_manually → cancelled, which an operator rarely means; a task in error is
        # resolved or retried, not cancelled).
        CANCELLABLE = %w[pending in_progress].freeze

        # @param view [App::View]
        # @param task_id [Integer]
        def initialize(view, task_id)
          @view = view
          @task_id = task_id
        end

        # @return [Array(String, String)] title and body
        # @raise [HttpError] 404 when there is no such task
        def render
          task = App.find_task(@view.engine, @task_id)
          ["Task #{task.task_id}", <<~HTML]
            <h1>Task #{h(task.task_id)} · #{h(task.namespace)}/#{h(task.name)}@#{h(task.version)} #{badge(task.current_state)}</h1>
            #{flash}
            <p class="muted">created #{time(task.created_at)} · updated #{time(task.updated_at)}</p>
            #{task_actions(task)}
            <h2>Graph</h2>
            <div class="dag" id="dag">#{dag(task)}</div>
            <h2>Context</h2>
            #{json_block(task.context)}
            <h2>Steps</h2>
            #{task.steps.map { |s| step_card(s) }.join("\n")}
            <h2>History</h2>
            #{history(task)}
          HTML
        end

        private

        def flash
          notice = Actions::NOTICES[@view.request.GET["done"]]
          notice ? %(<p class="flash" id="flash">#{h(notice)}</p>) : ""
        end

        # The engine lays the DAG out itself (no Graphviz) and escapes the names it writes;
        # the SVG marks failed steps (`failed`), the critical path (`critical`) and states.
        def dag(task)
          task.to_svg
        rescue TaskerCore::Error => e
          %(<p class="muted">The graph is not available: #{h(e.message)}</p>)
        end

        def task_actions(task)
          forms = []
          if CANCELLABLE.include?(task.current_state)
            forms << form("/tasks/#{task.task_id}/cancel", "Cancel task", "Cancel task #{task.task_id}? Its pending steps are cancelled.", danger: true)
          end
          if task.current_state == "error"
            forms << form("/tasks/#{task.task_id}/resolve", "Resolve manually", "Mark task #{task.task_id} resolved by hand?")
          end
          forms.empty? ? "" : %(<div id="task-actions">#{forms.join}</div>)
        end

        # A POST form with the CSRF token, a reason, and a confirm() before it is sent.
        def form(path, label, question, danger: false)
          <<~HTML
            <form class="action" method="post" action="#{h(url(@view.base, path))}" data-confirm="#{h(question)}">
            <input type="hidden" name="#{Csrf::FIELD}" value="#{h(@view.token)}">
            <input name="reason" placeholder="reason" size="24" aria-label="reason">
            <button type="submit"#{' class="danger"' if danger}>#{h(label)}</button>
            </form>
          HTML
        end

        def step_card(step)
          error = TaskHistory.last_error(step, max: 2000)
          retry_form = step.current_state == "error" ? form("/steps/#{step.step_id}/retry", "Retry step", "Retry step #{step.name} (#{step.step_id})?") : ""
          <<~HTML
            <div class="step-card#{' failed' if step.current_state == 'error'}" id="step-card-#{h(step.step_id)}" data-step="#{h(step.name)}">
            <strong>#{h(step.name)}</strong> <span class="muted">step #{h(step.step_id)}</span> #{badge(step.current_state)}
            <span class="muted">failed attempts #{h(step.attempts)} of #{h(step.retry_limit)}</span>
            #{error.empty? ? '' : %(<p class="step-error">last error: <code>#{h(error)}</code></p>)}
            #{retry_form}
            #{attempts(step)}
            #{step.results.nil? ? '' : "<details><summary>results</summary>#{json_block(step.results)}</details>"}
            </div>
          HTML
        end

        def attempts(step)
          list = step.execution_attempts
          return "" if list.empty?

          rows = list.map do |a|
            error = [a.error_class, a.error_message].compact.join(": ")
            %(<tr><td class="num">#{h(a.attempt_number)}</td><td>#{badge(a.status)}</td>) +
              %(<td class="num">#{a.duration_ms ? format('%.1f', a.duration_ms) : ''}</td><td>#{h(error)}</td></tr>)
          end
          %(<table class="attempts"><tr><th>attempt</th><th>outcome</th><th>ms</th><th>error</th></tr>#{rows.join}</table>)
        end

        def history(task)
          rows = TaskHistory.new(task).entries.map do |e|
            %(<tr><td>#{time(e.at)}</td><td>#{h(e.subject)}</td><td>#{h(e.from_state || '-')} → #{badge(e.to_state)}</td>) +
              %(<td>#{h(e.metadata['actor'])}</td><td>#{h(e.reason)}</td></tr>)
          end
          %(<table id="history"><tr><th>at</th><th>what</th><th>transition</th><th>by</th><th>why</th></tr>#{rows.join}</table>)
        end
      end
    end
  end
end
