# frozen_string_literal: true

# Issue 23: a seeded mutation fuzz of the two calls hostile input reaches first,
# `register_template` (as text and as a file) and `submit_task`, plus the step reports that
# follow a submission. Each case takes a real template from fixtures/templates, damages it
# (byte and bit flips, truncation, deletions, repeated lines, YAML-special text, invalid
# UTF-8, other encodings), registers it, and when that succeeds submits a task with a
# damaged context and reports its first steps with damaged results.
#
# Every case must end in success or a TaskerCore::Error subclass: any other exception, a
# case that hangs past FUZZ_CASE_TIMEOUT seconds, or a crash of the process fails the spec.
# The cases run in a child process (spec/bin/fuzz_child.rb) that reports each case on a pipe, so a hang (a native
# call holding the GVL cannot be interrupted by Timeout) or a crash is seen by the parent,
# which names the case. A case is reproduced with its seed and number:
#
#   FUZZ_SEED=1234 FUZZ_ONLY=517 rspec spec/integration/fuzz_spec.rb
#
# The suite runs FUZZ_CASES (default 3,000: about 5 s, 15 s on PostgreSQL under load); `rake fuzz` runs 100,000 and
# prints cases/s, outcomes and the slowest case.
RSpec.describe "Fuzzing template registration and submission" do
  let(:seed) { Integer(ENV.fetch("FUZZ_SEED", "23")) }
  let(:cases) { Integer(ENV.fetch("FUZZ_CASES", "3000")) }

  it "ends every mutated case in success or a TaskerCore::Error, without a hang or a crash" do
    indexes = ENV["FUZZ_ONLY"] ? ENV["FUZZ_ONLY"].split(",").map { |i| Integer(i) } : (0...cases)
    started = monotonic
    progress = lambda do |done|
      next unless (done % 10_000).zero?

      warn format("fuzz: %<done>d cases, %<rate>.0f cases/s", done: done, rate: done / (monotonic - started))
    end
    summary = TemplateFuzz.run(seed: seed, indexes: indexes, database_url: SpecStore.url,
                               case_timeout: Float(ENV.fetch("FUZZ_CASE_TIMEOUT", "20")),
                               progress: ENV["FUZZ_REPORT"] == "1" ? progress : nil)
    report = "seed #{seed} on #{SpecStore::KIND}: #{summary}"
    RSpec.configuration.reporter.message(report) if ENV["FUZZ_REPORT"] == "1"

    expect(summary.bad).to be_empty, "#{report}\nforeign exceptions:\n#{summary.bad.first(20).join("\n")}"
    expect(summary.hung).to be_empty, "#{report}\nhung cases (FUZZ_ONLY=...): #{summary.hung.inspect}"
    expect(summary.crashed).to be_empty, "#{report}\ncrashed cases: #{summary.crashed.inspect}"
    expect(summary.cases).to eq(indexes.count)
    # The fuzz must reach past registration, or it tests only the parser.
    expect(summary.outcomes["submitted"]).to be_positive, report unless ENV["FUZZ_ONLY"]
  end
end
