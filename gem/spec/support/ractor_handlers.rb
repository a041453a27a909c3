# frozen_string_literal: true

# Handlers for the Ractor specs. Defined at load time, as an app's would be: Ractors look
# them up by name, and only classes (shareable) cross into a Ractor.
module RactorSpec
  # A little CPU work; says where it ran.
  class Square < TaskerCore::BaseStepHandler
    def process(context)
      n = context.task_context.fetch("n")
      sum = (1..2_000).sum { |i| (i * n) % 7 }
      { "square" => n * n, "checksum" => sum, "in_ractor" => !Ractor.current.equal?(Ractor.main) }
    end
  end

  # Square, declared to run in a Ractor by its class rather than by the template.
  class DeclaredSquare < Square
    execution :ractor
  end

  # Declared for a Ractor, but holds a mutable constant: registration must refuse it.
  class DeclaredButUnsafe < TaskerCore::BaseStepHandler
    execution :ractor
    SEEN = [] # rubocop:disable Style/MutableConstant

    def process(_context) = nil
  end

  # Adds its parents' squares.
  class Total < TaskerCore::BaseStepHandler
    def process(context)
      squares = context.parent_results.values.sum { |r| r.fetch("square") }
      { "total" => squares, "in_ractor" => !Ractor.current.equal?(Ractor.main) }
    end
  end

  # Fails its first two attempts (the attempt number comes from the engine: a Ractor
  # handler keeps no state between runs).
  class FlakyTwice < TaskerCore::BaseStepHandler
    def process(context)
      raise TaskerCore::RetryableError, "attempt #{context.attempt} fails" if context.attempt < 3

      { "attempt" => context.attempt }
    end
  end

  # Passes the registration check but touches a global at run time, which a Ractor may not.
  class TouchesGlobal < TaskerCore::BaseStepHandler
    def process(_context)
      $tasker_ractor_spec_counter = ($tasker_ractor_spec_counter || 0) + 1
      { "never" => true }
    end
  end

  # Its first attempt raises an Exception that is not a StandardError, which ends the Ractor.
  class KillsItsRactor < TaskerCore::BaseStepHandler
    def process(context)
      raise Exception, "fatal in attempt 1" if context.attempt == 1 # rubocop:disable Lint/RaiseException

      { "survived" => context.attempt }
    end
  end

  # Sleeps, so a stop finds it in flight.
  class Slow < TaskerCore::BaseStepHandler
    def process(_context)
      sleep 0.3
      { "slept" => true }
    end
  end

  # Sleeps a little and says where it ran.
  class Nap < TaskerCore::BaseStepHandler
    def process(_context)
      sleep 0.1
      { "in_ractor" => !Ractor.current.equal?(Ractor.main) }
    end
  end

  # Each of these would break in a Ractor, for the registration check.
  class WithClassVariable < TaskerCore::BaseStepHandler
    @@calls = 0 # rubocop:disable Style/ClassVars
    def process(_context) = { "calls" => @@calls += 1 }
  end

  class WithMutableConstant < TaskerCore::BaseStepHandler
    RATES = { "eur" => 1.1 } # not frozen
    def process(_context) = RATES
  end

  class WithClassState < TaskerCore::BaseStepHandler
    @cache = {}
    class << self
      attr_reader :cache
    end
    def process(_context) = self.class.cache
  end

  # Frozen constants and shareable class state are fine.
  class WithFrozenConfig < TaskerCore::BaseStepHandler
    LIMITS = Ractor.make_shareable({ "max" => 10 })
    @label = "frozen"
    def process(_context) = { "max" => LIMITS["max"] }
  end
end
