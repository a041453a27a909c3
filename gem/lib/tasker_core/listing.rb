# frozen_string_literal: true

module TaskerCore
  # Looking through stored tasks: newest first, filtered, a page at a time. What the
  # `tasker-core tasks` command and a dashboard's task list read. Pages are by keyset (pass
  # the last id of a page as `before:` for the next), so a page costs the same on the first
  # page or the thousandth, at a thousand tasks or millions.
  #
  #   page = engine.tasks(state: "error", limit: 20)
  #   page.first # => {"task_id"=>42, "namespace"=>"shop", "name"=>"fulfil_order", "version"=>"1.0.0",
  #              #     "state"=>"error", "created_at"=>2026-12-04 05:10:00 UTC, "state_since"=>...}
  #   engine.tasks(state: "error", before: page.last["task_id"], limit: 20) # the next page
  module Listing
    # The methods {Engine} gets for listing.
    module EngineMethods
      # Stored tasks, newest first.
      # @param state [String, Symbol, nil] only tasks in this current state
      # @param namespace [String, nil] only tasks of templates in this namespace
      # @param name [String, nil] only tasks of templates with this name
      # @param since [Time, nil] only tasks created at or after this time
      # @param before [Integer, nil] only tasks with a smaller id (the previous page's last)
      # @param limit [Integer] at most this many (default 50)
      # @return [Array<Hash>] task_id, namespace, name, version, state, created_at, state_since
      # @raise [ValidationError] for a bad filter, naming it
      def tasks(state: nil, namespace: nil, name: nil, since: nil, before: nil, limit: 50)
        unless since.nil? || since.respond_to?(:to_time)
          raise ValidationError, "since: expected a Time, got #{since.inspect[0, 100]}"
        end

        @native.list_tasks(state&.to_s, namespace&.to_s, name&.to_s, since&.to_time&.to_f, before, limit)
      end

      # The id of the task a step belongs to.
      # @param step_id [Integer]
      # @return [Integer, nil] nil when there is no such step
      def task_of_step(step_id)
        @native.task_of_step(step_id)
      end
    end
  end
end
