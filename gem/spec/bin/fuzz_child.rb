# frozen_string_literal: true

# The fuzz's child process (spec/support/template_fuzz.rb, issue 23): runs the cases listed
# in INDEX_FILE, one number per line, writing one line per case to stdout for the parent.
# A process of its own rather than a fork of the spec's process (see TemplateFuzz.run_child).
#
#   ruby fuzz_child.rb SEED DATABASE_URL DIR INDEX_FILE

$LOAD_PATH.unshift File.expand_path("../../lib", __dir__)
Warning[:experimental] = false
require "tasker_core"

FIXTURES = File.expand_path("../../../fixtures", __dir__)
require_relative "../support/template_fuzz"

seed, database_url, dir, index_file = ARGV
$stdout.sync = true
begin
  indexes = File.read(index_file).split.map { |i| Integer(i) }
  TemplateFuzz::Runner.new(seed: Integer(seed), database_url: database_url, out: $stdout, dir: dir).run(indexes)
rescue Exception => e # rubocop:disable Lint/RescueException: the parent reports whatever stopped the child
  $stdout.puts("fatal #{e.class}: #{e.message}".gsub(/\s+/, " "))
  exit!(1)
end
exit!(0)
