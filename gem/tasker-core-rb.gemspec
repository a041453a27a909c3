# frozen_string_literal: true

require_relative "lib/tasker_core/version"

Gem::Specification.new do |spec|
  spec.name = "tasker-core-rb"
  spec.version = TaskerCore::VERSION
  spec.authors = ["tasker-core developers"]
  spec.summary = "Tasker workflows orchestrated by a Rust actor engine, with Ruby step handlers"
  spec.description = "Runs Tasker task templates (YAML DAGs of steps) on a Rust engine that owns " \
                     "dependency resolution, retries, state and events; Ruby threads and Ractors run the handlers."
  spec.license = "MIT"
  spec.required_ruby_version = ">= 3.1"

  # The extension is built from the workspace's Rust crates (see ext/tasker_core/extconf.rb).
  # This gemspec serves a checkout (Bundler `path:`, after `rake compile`); the gems users
  # install are built from it by `rake gem:source` (adds the Rust workspace) and
  # `rake gem:native` (adds the compiled extension) — rakelib/package.rake.
  spec.files = Dir["lib/**/*.{rb,rake,tt}", "ext/**/*.rb", "exe/*", "sig/**/*", "README.md"]
  spec.require_paths = ["lib"]
  # `tasker-core work` (a worker process) and the commands to come; see TaskerCore::CLI.
  spec.bindir = "exe"
  spec.executables = ["tasker-core"]
  spec.extensions = ["ext/tasker_core/extconf.rb"]
end
