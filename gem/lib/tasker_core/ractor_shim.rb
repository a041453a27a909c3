# frozen_string_literal: true

module TaskerCore
  # The one place that knows which Ractor API this Ruby has. 3.1–3.4: Ractor.select waits
  # for one of several Ractors and #take gives its value. 3.5 replaced #take with #value and
  # Ractor.yield/receive with ports; Ractor.select still takes Ractors there, and is the only
  # call this gem relies on. (On 3.1, several threads each blocked in #take on a different
  # Ractor hang after the first returns: one thread selecting over all of them does not.)
  module RactorShim
    module_function

    # Whether the caller runs in the main Ractor (module state such as
    # `TaskerCore.engine` is readable only there).
    # @return [Boolean]
    def main? = Ractor.current == Ractor.main

    # Silences the "Ractor is experimental" warning.
    # @return [void]
    def quiet_warnings
      Warning[:experimental] = false
    end

    # Waits for `ractor` to end and returns its block's value (`#take` up to Ruby 3.4,
    # `#value` from 3.5).
    # @param ractor [Ractor]
    # @return [Object]
    def value(ractor)
      ractor.respond_to?(:value) ? ractor.value : ractor.take
    end

    # Waits for one of `ractors` to end.
    # @param ractors [Array<Ractor>]
    # @return [Array(Ractor, Object, Exception)] the Ractor, its value, the error it died of
    def wait_any(ractors)
      ractor, value = Ractor.select(*ractors)
      [ractor, value, nil]
    rescue Ractor::RemoteError => e
      [e.ractor, nil, e.cause || e]
    end
  end
end
