# frozen_string_literal: true

# Issue 15 item 6: how long registering a 10,000-step template takes on one store (an engine
# started on it first, off the clock), then a new version of the same template (its named
# steps already stored). benches/durable_throughput.rb reports the first figure in the full
# run; this times it alone, quick enough to alternate two builds. With `--dir`, the path
# form: `register_templates(dir)` of a directory holding the template, the way
# `Engine.start(templates:)` and a Rails app register templates.
#
#   ruby benches/register_template.rb CHECKOUT URL [--dir]   # URL: memory:, sqlite:///tmp/r.sqlite3, postgres://…
#
# ARGV[0]: the checkout whose gem/lib (and built extension) to load.
require "tmpdir"
root = File.expand_path(ARGV.fetch(0))
$LOAD_PATH.unshift File.join(root, "gem/lib")
require "tasker_core"
require File.join(root, "fixtures/generated_templates")

url = ARGV.fetch(1)
from_dir = ARGV.include?("--dir")
yaml = Fixtures::GeneratedTemplates.layered(steps: 10_000)
versions = [yaml, yaml.sub(/^version: .*$/, "version: 9.9.9")]
mono = -> { Process.clock_gettime(Process::CLOCK_MONOTONIC) }
Dir.mktmpdir("register_template") do |tmp|
  engine = TaskerCore::Engine.start(workers: 1, database_url: url, recover: false)
  begin
    first, again = versions.each_with_index.map do |text, i|
      dir = File.join(tmp, i.to_s)
      if from_dir
        Dir.mkdir(dir)
        File.write(File.join(dir, "layered.yaml"), text)
      end
      started = mono.call
      from_dir ? engine.register_templates(dir) : engine.register_template(text, source: "register_template.rb")
      mono.call - started
    end
    puts format("%s %s: %s %.1f ms; a new version of it %.1f ms (%d KB of YAML); load %s", root, url,
                from_dir ? "register_templates(dir)" : "register_template", first * 1e3, again * 1e3,
                yaml.bytesize / 1024, File.read("/proc/loadavg").split[0, 3].join(" "))
  ensure
    engine.close
  end
end
