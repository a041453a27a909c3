# frozen_string_literal: true

# Issue 17, the dispatch gate in use: benches/throughput.rb's run with a namespace cap
# that covers every step and is never reached, so each step is held, ranked, let out and
# counted against its cap. Compare with `ruby benches/throughput.rb` (the gate unused:
# its fast path) on the same build.
#
#   ruby benches/gate_throughput.rb

require_relative "throughput"

module Bench
  # Throughput with `concurrency: { namespaces: { "generated" => 1_000_000 } }`.
  module GateInUse
    def self.prepended(base) = base.singleton_class.prepend(Start)

    # Engine.start with the cap added.
    module Start
      def start(**options) = super(**options, concurrency: { namespaces: { "generated" => 1_000_000 } })
    end
  end
end

if $PROGRAM_NAME == __FILE__
  TaskerCore::Engine.prepend(Bench::GateInUse)
  results = Bench::Throughput.new.run
  puts "#{results['steps']}-step template, every step capped (never reached): steps/s best / median"
  results["runs"].each do |workers, r|
    t = r["tasker_steps_per_second"]
    puts format("  %s worker(s): tasker-core %9s / %-9s", workers, Bench.format_rate(t["best"]),
                Bench.format_rate(t["median"]))
  end
end
