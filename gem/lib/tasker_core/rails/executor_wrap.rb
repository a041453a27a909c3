# frozen_string_literal: true

module TaskerCore
  module Rails
    # Wraps each handler run on a worker thread in the Rails reloader (or executor), as
    # ActiveJob and Sidekiq wrap each job: connections the handler checked out go back to
    # the pool when it returns, the query cache is per step, and in development the
    # reloader first reloads code that changed. Between steps a worker holds nothing, so a
    # reload never waits for an idle worker.
    class ExecutorWrap
      # The wrapper for a `config.tasker_core.executor` setting.
      # @param setting [Symbol, #wrap, #call] :reloader, :executor, :none, or your own
      # @param app [Rails::Application]
      # @return [#call, nil] what {Engine.start} takes as `around_step:`
      def self.for(setting, app)
        case setting
        when :reloader then new(app.reloader)
        when :executor then new(app.executor)
        when :none then nil
        else setting.respond_to?(:wrap) ? new(setting) : setting
        end
      end

      # @param wrapper [#wrap] Rails.application.reloader, .executor, or alike
      def initialize(wrapper)
        @wrapper = wrapper
      end

      # Runs the block inside the wrapper.
      # @return [Object] the block's value
      def call(&block)
        @wrapper.wrap(&block)
      end
    end
  end
end
