# frozen_string_literal: true

# Issue 15 item 6, the path form: `register_templates(dir)` of a directory holding the
# 10,000-step generated template (an engine started on the store first, off the clock),
# then a directory holding a new version of it. The way `Engine.start(templates:)` and a
# Rails app register templates; benches/register_template.rb times the text form.
#
#   ruby benches/register_templates_dir.rb CHECKOUT URL   # URL: memory:, sqlite:///tmp/r.sqlite3, postgres://…
#
# ARGV[0]: the checkout whose gem/lib (and built extension) to load.
require "tmpdir"
root = File.expand_path(ARGV.fetch(0))
$LOAD_PATH.unshift File.join(root, "gem/lib")
require "tasker_core"
require File.join(root, "fixtures/generated_templates")

url = ARGV.fetch(1)
yaml = Fixtures::GeneratedTemplates.layered(steps: 10_000)
mono = -> { Process.clock_gettime(Process::CLOCK_MONOTONIC) }
Dir.mktmpdir("register_templates_dir") do |tmp|
  first_dir = File.join(tmp, "first")
  again_dir = File.join(tmp, "again")
  [first_dir, again_dir].each { |d| Dir.mkdir(d) }
  File.write(File.join(first_dir, "layered.yaml"), yaml)
  File.write(File.join(again_dir, "layered.yaml"), yaml.sub(/^version: .*$/, "version: 9.9.9"))
  engine = TaskerCore::Engine.start(workers: 1, database_url: url, recover: false)
  begin
    started = mono.call
    engine.register_templates(first_dir)
    first = mono.call - started
    started = mono.call
    engine.register_templates(again_dir)
    again = mono.call - started
    puts format("%s %s: register_templates(dir) %.1f ms; a new version of it %.1f ms (%d KB of YAML); load %s",
                root, url, first * 1e3, again * 1e3, yaml.bytesize / 1024,
                File.read("/proc/loadavg").split[0, 3].join(" "))
  ensure
    engine.close
  end
end
