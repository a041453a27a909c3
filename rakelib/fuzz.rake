# frozen_string_literal: true

require "etc"

# The long run of the seeded mutation fuzz (gem/spec/integration/fuzz_spec.rb, issue 23):
# the suite runs 3,000 cases on every run; this runs FUZZ_CASES (default 100,000) with a
# seed (FUZZ_SEED, default a new random one, printed) on TASKER_SPEC_STORE (sqlite by
# default; postgres or memory), and prints cases/s, the count of each outcome and the
# slowest case. A failing case is reproduced with
# `FUZZ_SEED=<seed> FUZZ_ONLY=<case> rspec spec/integration/fuzz_spec.rb` in gem/.
desc "Fuzz register_template and submit_task: FUZZ_CASES (100000), FUZZ_SEED, TASKER_SPEC_STORE"
task fuzz: :compile do
  seed = ENV.fetch("FUZZ_SEED") { Random.new_seed.to_s[0, 9] }
  env = { "FUZZ_CASES" => ENV.fetch("FUZZ_CASES", "100000"), "FUZZ_SEED" => seed, "FUZZ_REPORT" => "1" }
  cpu = File.read("/proc/cpuinfo")[/^model name\s*:\s*(.+)$/, 1] rescue "unknown CPU" # rubocop:disable Style/RescueModifier
  puts "fuzz: FUZZ_CASES=#{env['FUZZ_CASES']} FUZZ_SEED=#{seed} TASKER_SPEC_STORE=#{ENV.fetch('TASKER_SPEC_STORE', 'sqlite')}; " \
       "#{RUBY_DESCRIPTION}; #{cpu}, #{Etc.nprocessors} cores"
  Dir.chdir(File.join(ROOT, "gem")) { sh env, "rspec spec/integration/fuzz_spec.rb --format progress" }
end
