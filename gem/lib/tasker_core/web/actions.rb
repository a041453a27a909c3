# frozen_string_literal: true

module TaskerCore
  module Web
    # The dashboard's POSTs: the manual operations of the Ruby API ({Step#reset_for_retry!},
    # {Task#cancel!}, {Task#resolve_manually!}) with the reason typed in the form. The
    # engine checks the state and refuses what it does not allow; that refusal becomes a
    # 409 page with its message, and nothing changes.
    #
    # Runs only after {Csrf#verify!} and the authorization check passed (see {App}).
    class Actions
      # @param view [App::View]
      def initialize(view)
        @view = view
        reason = view.request.POST["reason"].to_s.strip
        @reason = reason.empty? ? nil : reason[0, 500]
      end

      # What the task page says after each action, by the code the redirect carries
      # (`?done=retried`): fixed text, so a link cannot make the page announce anything else.
      NOTICES = { "retried" => "The step was reset for another attempt.", "cancelled" => "The task was cancelled.",
                  "resolved" => "The task was resolved manually." }.freeze

      # @param step_id [Integer]
      # @return [Array(Integer, String)] the task id and what happened (a key of {NOTICES})
      def retry_step(step_id)
        task_id = @view.engine.task_of_step(step_id) or raise HttpError.new(404, "No step #{step_id} in this store.")
        step = App.find_task(@view.engine, task_id).steps.find_by(step_id: step_id)
        operate { step.reset_for_retry!(reason: @reason) }
        [task_id, "retried"]
      end

      # @param task_id [Integer]
      # @return [Array(Integer, String)] the task id and a key of {NOTICES}
      def cancel(task_id)
        task = App.find_task(@view.engine, task_id)
        operate { task.cancel!(reason: @reason) }
        [task_id, "cancelled"]
      end

      # @param task_id [Integer]
      # @return [Array(Integer, String)] the task id and a key of {NOTICES}
      def resolve(task_id)
        task = App.find_task(@view.engine, task_id)
        operate { task.resolve_manually!(reason: @reason) }
        [task_id, "resolved"]
      end

      private

      def operate
        yield
      rescue StateTransitionError, ConcurrentModificationError => e
        raise HttpError.new(409, e.message)
      rescue TaskerCore::Error => e
        raise unless e.message.include?("is not registered")

        raise HttpError.new(409, "#{e.message}: this dashboard's engine cannot drive the task without its template " \
                                 "(give `tasker-core web` the template with --templates).")
      end
    end
  end
end
