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
  config.before { Fixtures::Recorder.clear }
  config.after { stop_engines }
end
