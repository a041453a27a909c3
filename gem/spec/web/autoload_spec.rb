# frozen_string_literal: true

require "open3"
require "rbconfig"

# docs/rails.md sets `TaskerCore::Web.authorize` in config/initializers/tasker_core.rb, and
# Rails runs initializers before config/routes.rb requires "tasker_core/web": the constant
# must load on first use, or a production app following the docs fails to boot (NameError).
RSpec.describe "TaskerCore::Web loaded on first use" do
  it "answers TaskerCore::Web after require \"tasker_core\" alone, as an initializer sees it" do
    script = <<~RUBY
      require "tasker_core"
      abort "loaded too early" if $LOADED_FEATURES.any? { |f| f.end_with?("tasker_core/web.rb") }
      TaskerCore::Web.authorize = ->(_request) { true }
      puts TaskerCore::Web.respond_to?(:call)
    RUBY
    lib = File.expand_path("../../lib", __dir__)
    out, err, status = Open3.capture3(RbConfig.ruby, "-I", lib, "-e", script)
    expect(status).to be_success, err
    expect(out.strip).to eq("true")
  end
end
