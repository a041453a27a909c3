# frozen_string_literal: true

$LOAD_PATH.unshift File.expand_path("../lib", __dir__)
Warning[:experimental] = false

require "tasker_core"
require "timeout"
require "tmpdir"

FIXTURES = File.expand_path("../../fixtures", __dir__)
require File.join(FIXTURES, "handlers/recording")
require File.join(FIXTURES, "handlers/shop")
require File.join(FIXTURES, "generated_templates")
Dir[File.join(__dir__, "support/**/*.rb")].sort.each { |f| require f }

RSpec.configure do |config|
  config.include EngineHelpers
  config.disable_monkey_patching!
  config.order = :random
  # spec/packaging builds the gems and installs them (several minutes, and the same on every
  # store): they run when TASKER_SPEC_PACKAGING=1, which bin/test sets for one run of them.
  config.filter_run_excluding(:packaging) unless ENV["TASKER_SPEC_PACKAGING"] == "1"
  config.before { Fixtures::Recorder.clear }
  config.after { stop_engines }
  # TASKER_GC_STRESS=1: every example runs under GC.stress (a full GC at every allocation),
  # so a Ruby object the binding holds without marking it, or a wrapper freed too early,
  # fails at once instead of once in a while. bin/test runs the binding's specs this way.
  if ENV["TASKER_GC_STRESS"] == "1"
    config.around do |example|
      GC.stress = true
      example.run
    ensure
      GC.stress = false
    end
  end
end
