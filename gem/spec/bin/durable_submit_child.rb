# frozen_string_literal: true

# Submits tasks with `durable: true`, prints each id the moment submit_task returns, and
# kills itself with SIGKILL right after the last one: what the parent then finds in the
# store is exactly what the durable acknowledgement promised.
#
#   ruby durable_submit_child.rb DATABASE_URL COUNT

$LOAD_PATH.unshift File.expand_path("../../lib", __dir__)
Warning[:experimental] = false
require "tasker_core"

url, count = ARGV
engine = TaskerCore::Engine.start(database_url: url, workers: 0, recover: false)
engine.register_template(<<~YAML, source: "durable.yaml")
  name: durable
  step_templates:
    - { name: only, handler_class: NoSuchHandlerNeeded }
YAML
Integer(count).times do |i|
  $stdout.puts engine.submit_task("durable", { "n" => i }, durable: true)
  $stdout.flush
end
Process.kill("KILL", Process.pid)
