# frozen_string_literal: true

require "json"
require_relative "doc_sections"

module Bench
  # The "Operating cost: timeouts, priority, concurrency limits (issue 17)" section of
  # docs/benchmarks.md, from operating_cost.json (benches/operating_cost.rb), inserted before
  # "How each number was measured" by `rake bench`. The only constant is issue 17's bar.
  module OperatingReport
    # Issue 17: a feature, used or not, costs at most this share of the no-op throughput.
    SLOWDOWN_BAR = 0.05
    COMMAND = "ruby benches/operating_cost.rb --json target/bench/operating_cost.json"

    module_function

    # Inserts the section into `doc` when `json` exists.
    # @return [void]
    def insert(doc, json)
      DocSections.insert_before_method(doc, render(JSON.parse(File.read(json)))) if File.exist?(json)
    end

    # @param results [Hash] operating_cost.json
    # @return [String] Markdown
    def render(results)
      base = results["variants"].fetch("unused")["median"]
      rows = results["variants"].map do |name, r|
        ratio = r["median"] / base
        paired = r["paired_ratio"] || ratio
        met = name == "unused" || paired >= 1 - SLOWDOWN_BAR
        "| #{name} | #{rate(r['median'])} | #{rate(r['best'])} | #{format('%.3f', ratio)} | " \
          "#{format('%.3f', paired)} | #{met ? 'yes' : '**no**'} |"
      end
      <<~MD
        ## Operating cost: timeouts, priority, concurrency limits (issue 17)

        The no-op throughput bench's run (#{num(results['steps'])}-step generated template, `memory:`,
        #{results['workers']} worker threads) per variant, the variants alternating, #{results['repetitions']} repetitions each
        after a warm-up: `unused` configures none of the features; `timeout` puts every step
        under an engine-wide `step_timeout: 60` (armed and disarmed per step, never reached);
        `priority` submits the task with `priority: 5`; `limit` caps the steps' handler class
        at 1,000 (every step counted in and out, never reached); `all` is the three together.
        The bar: each within #{(SLOWDOWN_BAR * 100).round} % of `unused` (ratio ≥ #{format('%.2f', 1 - SLOWDOWN_BAR)}), judged on the median of each
        round's own ratio (a round runs every variant back to back, so its ratio cancels the
        slow swings of a shared machine's load). Command (also run by `rake bench`):

        ```
        #{COMMAND}
        ```

        | Variant | steps/s, median | best | ratio of medians to unused | median of each round's ratio | within 5 % (paired) |
        | --- | --- | --- | --- | --- | --- |
        #{rows.join("\n")}
      MD
    end

    def rate(value) = num(value.round)
    def num(n) = n.to_s.reverse.scan(/\d{1,3}/).join(",").reverse
  end
end
