# frozen_string_literal: true

# No Bundler: this app runs on the machine's Debian-packaged gems (railties, activerecord,
# actionpack, activejob, sqlite3, pg), and takes tasker-core from this checkout, as
# `gem "tasker-core-rb", path: "..."` in a Gemfile would. The specs copy the app to a
# temporary directory and say where the gem is with TASKER_CORE_LIB.
$LOAD_PATH.unshift(ENV.fetch("TASKER_CORE_LIB") { File.expand_path("../../../lib", __dir__) })
