# frozen_string_literal: true

require "rbconfig"

ROOT = File.expand_path("..", __dir__)
EXT_SO = File.join(ROOT, "gem/lib/tasker_core/tasker_core_ext.#{RbConfig::CONFIG['DLEXT']}")
CARGO_TARGET = File.expand_path(ENV.fetch("CARGO_TARGET_DIR", "target"), ROOT)

desc "Build the Rust extension (release) into gem/lib/tasker_core"
task :compile do
  # RUBY tells rb-sys which Ruby to build for. gem/ext/tasker_core/extconf.rb sets it too, so
  # a `gem install` that shares this target directory reuses the build instead of redoing it.
  Dir.chdir(ROOT) { sh({ "RUBY" => RbConfig.ruby }, "cargo build --release -p tasker-core-ext") }
  # Copy then rename: a process that has the old library loaded keeps its (unlinked) file;
  # overwriting it in place would change code under a running process.
  staging = "#{EXT_SO}.#{Process.pid}.tmp"
  cp File.join(CARGO_TARGET, "release/libtasker_core_ext.so"), staging
  mv staging, EXT_SO
end

desc "Run the gem's RSpec suite"
task spec: :compile do
  Dir.chdir(File.join(ROOT, "gem")) { sh "rspec --format progress" }
end

desc "Run the Rust tests (cargo test) and the RSpec suite"
task test: :compile do
  Dir.chdir(ROOT) { sh "cargo test --workspace --exclude tasker-core-ext" }
  Rake::Task[:spec].invoke
end

desc "Run the order-fulfilment example"
task demo: :compile do
  ruby File.join(ROOT, "bin/demo")
end
