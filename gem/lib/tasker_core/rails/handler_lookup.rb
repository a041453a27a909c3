# frozen_string_literal: true

module TaskerCore
  module Rails
    # Finds a step's handler class through Rails autoloading (Zeitwerk), at the moment the
    # step runs: with class caching off (development) the engine asks again for every step,
    # so a handler edited since the last reload runs as edited.
    #
    # A handler file that fails to load (a syntax error mid-edit) raises a ScriptError,
    # which no StandardError rescue sees and which would end the worker thread; it is
    # reported as {HandlerNotFoundError} instead, so the step fails with the file's error.
    class HandlerLookup
      # @param name [String] the template's handler_class ("Shop::ChargeCard")
      # @return [Module]
      # @raise [NameError] when nothing defines the constant
      # @raise [HandlerNotFoundError] when its file cannot be loaded
      def call(name)
        ActiveSupport::Inflector.constantize(name)
      rescue ScriptError => e
        raise HandlerNotFoundError, "handler class #{name} could not be loaded: #{e.class}: #{e.message}"
      end
    end
  end
end
