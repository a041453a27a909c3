# frozen_string_literal: true

module TaskerCore
  # Checks, before a template is registered, that each handler class meant to run in a
  # Ractor (`execution: ractor`) can: a Ractor may read a class's constants and class-level
  # instance variables only when their values are shareable (deeply frozen), and may not
  # touch class variables (@@x) at all. Anything else would raise Ractor::IsolationError in
  # the middle of a step.
  module RactorSafety
    module_function

    # @param handler_class [String] the template's handler_class
    # @param where [String] the template and step, for the message
    # @param lookup [#call] handler class name → class
    # @return [void]
    # @raise [ValidationError] naming the handler and what is in the way
    def check!(handler_class, where, lookup: ->(name) { Object.const_get(name) })
      klass = begin
        lookup.call(handler_class)
      rescue NameError => e
        raise ValidationError, "#{where}: handler #{handler_class} runs in a Ractor and must be loadable to be checked: #{e.message}"
      end
      raise ValidationError, "#{where}: handler #{handler_class} is not a class" unless klass.is_a?(Class)

      problem = problems(klass).first
      return unless problem

      raise ValidationError,
            "#{where}: handler #{handler_class} cannot run in a Ractor: #{problem}. " \
            "Freeze it (Ractor.make_shareable), move it into the instance, or use execution: thread"
    end

    # What in `klass` (and the classes and modules it inherits from, up to tasker-core's
    # own) a Ractor could not use.
    # @param klass [Class]
    # @return [Array<String>]
    def problems(klass)
      owners(klass).flat_map do |owner|
        found = owner.class_variables(false).map { |name| "class variable #{owner}::#{name}" }
        owner.instance_variables.each do |name|
          value = owner.instance_variable_get(name)
          found << "class-level instance variable #{owner}.#{name} holds an unshareable #{value.class}" unless Ractor.shareable?(value)
        end
        owner.constants(false).each do |name|
          value = owner.const_get(name, false)
          found << "constant #{owner}::#{name} holds an unshareable #{value.class}" unless Ractor.shareable?(value)
        end
        found
      end
    end

    def owners(klass)
      klass.ancestors.take_while { |a| a != BaseStepHandler && a != Object }
    end
    private_class_method :owners
  end
end
