# frozen_string_literal: true

# A handler that fails permanently while `broken` is set, so specs can fail a task, "fix"
# the cause, and drive the manual operations.
class ToggleHandler < TaskerCore::BaseStepHandler
  class << self
    attr_accessor :broken
  end

  def process(context)
    raise TaskerCore::PermanentError, "downstream is broken" if self.class.broken

    { "ran" => context.step_name, "attempt" => context.attempt }
  end
end
