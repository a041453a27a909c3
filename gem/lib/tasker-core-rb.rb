# frozen_string_literal: true

# The file Bundler requires for `gem "tasker-core-rb"`: Bundler.require loads a gem by its
# name, and this gem's name (tasker-core-rb) differs from its library (tasker_core). Without
# this file Bundler finds nothing to require, TaskerCore is never loaded and a Rails app's
# initializer fails with "undefined method `configure' for TaskerCore:Module" (issue 13).
require_relative "tasker_core"
