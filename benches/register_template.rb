# frozen_string_literal: true

# Issue 15 item 6: how long `register_template` of a 10,000-step template takes on one store
# (an engine started on it first, off the clock), then a new version of the same template
# (its named steps already stored). benches/durable_throughput.rb reports the first figure
# in the full run; this times it alone, quick enough to alternate two builds.
#
#   ruby benches/register_template.rb CHECKOUT URL   # URL: memory:, sqlite:///tmp/r.sqlite3, postgres://…
#
# ARGV[0]: the checkout whose gem/lib (and built extension) to load.
root = File.expand_path(ARGV.fetch(0))
$LOAD_PATH.unshift File.join(root, "gem/lib")
require "tasker_core"
require File.join(root, "fixtures/generated_templates")

url = ARGV.fetch(1)
yaml = Fixtures::GeneratedTemplates.layered(steps: 10_000)
mono = -> { Process.clock_gettime(Process::CLOCK_MONOTONIC) }
engine = TaskerCore::Engine.start(workers: 1, database_url: url, recover: false)
begin
  started = mono.call
  engine.register_template(yaml, source: "register_template.rb")
  first = mono.call - started
  started = mono.call
  engine.register_template(yaml.sub(/^version: .*$/, "version: 9.9.9"), source: "register_template.rb")
  again = mono.call - started
  puts format("%s %s: register %.1f ms; a new version of it %.1f ms (%d KB of YAML); load %s", root, url,
              first * 1e3, again * 1e3, yaml.bytesize / 1024, File.read("/proc/loadavg").split[0, 3].join(" "))
ensure
  engine.close
end
