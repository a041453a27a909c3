# frozen_string_literal: true

# A client process for the idempotent-submission spec
# (spec/integration/idempotent_submission_spec.rb): starts a client engine on a shared
# PostgreSQL database, registers the template, says "ready", and on "go" (stdin) submits
# identities key-0 .. key-(KEYS-1) from 3 threads, each thread all of them, at the same
# time as the parent process does. Prints "key task_id created" per submission, then exits.
#
#   ruby identity_child.rb DATABASE_URL TEMPLATE_PATH KEYS

$LOAD_PATH.unshift File.expand_path("../../lib", __dir__)
Warning[:experimental] = false
require "tasker_core"

url, template_path, keys = ARGV
engine = TaskerCore::Engine.start(templates: nil, workers: 0, database_url: url, recover: false, instrument: false,
                                  role: :client)
engine.register_template(File.read(template_path), source: template_path)
$stdout.puts "ready"
$stdout.flush
$stdin.gets
lines = Array.new(3) do
  Thread.new do
    Array.new(Integer(keys)) do |i|
      s = engine.submit_once("charge_card", { "n" => i }, identity: { key: "key-#{i}" })
      "key-#{i} #{s.task_id} #{s.created?}"
    end
  end
end.flat_map(&:value)
$stdout.puts lines
$stdout.flush
engine.close
