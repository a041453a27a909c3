# frozen_string_literal: true

module Bench
  # The "Insights (issue 8)" section of docs/benchmarks.md, mixed into {Report}. Reads
  # insights.json (benches/insights.rb) and, when it ran, the `insights-bench:` line of the
  # PostgreSQL scale bench; the only constants are issue 8's targets. Uses {Report}'s `dur`,
  # `num` and `row`.
  module InsightsReport
    HEALTH_TARGET_SECONDS = 10e-6
    SLOWEST_TARGET_SECONDS = 0.2
    INSIGHTS_COMMAND = "ruby benches/insights.rb --json target/bench/insights.json"

    private

    def insights = @insights ||= read_json("insights.json")

    def insights_section
      calls = insights["per_call_seconds"]
      current = calls.fetch("SystemHealthCounts.current")
      <<~MD
        ## Insights (issue 8)

        An engine on a SQLite file holding #{num(insights['tasks'])} finished tasks
        (#{num(insights['steps'])} steps, some failed); benchmark-ips. The baseline is the same
        counts by one SQL query (`SystemHealthCounts.from_store`). Command (also run by
        `rake bench`):

        ```
        #{INSIGHTS_COMMAND}
        ```

        | Side | Measurement | Measured | Target | Met |
        | --- | --- | --- | --- | --- |
        #{row('tasker-core', '`SystemHealthCounts.current` (live counters)', dur(current),
              "≤ #{dur(HEALTH_TARGET_SECONDS)}", current <= HEALTH_TARGET_SECONDS)}
        #{row('tasker-core', '`native.health` (the native call alone)', dur(calls.fetch('native.health')), '', nil)}
        #{row('baseline', '`SystemHealthCounts.from_store` (one SQL query)', dur(calls.fetch('SystemHealthCounts.from_store')), '', nil)}
        #{insights_scale_rows}
      MD
    end

    # The PostgreSQL 1,000,000-step numbers, from the scale bench's `insights-bench:` line
    # (key=value, timings as min/median/max milliseconds).
    def insights_scale_rows
      log = File.join(@dir, "insights_scale.log")
      line = File.exist?(log) && File.readlines(log).grep(/\Ainsights-bench:/).last
      fields = line ? line.split(/\s+/).drop(1).select { |kv| kv.include?("=") }.to_h { |kv| kv.split("=", 2) } : {}
      return "\nThe 1,000,000-step PostgreSQL bench did not run (PostgreSQL unreachable)." if fields.fetch("skipped", "1") == "1"

      labels = {
        "slowest_steps_24h" => "`slowest_steps`, default query (finished in the last 24 h, 10 rows)",
        "slowest_steps_24h_one_namespace" => "`slowest_steps`, one namespace",
        "slowest_steps_all" => "`slowest_steps` with every step in the window (worst case)",
        "slowest_step_groups_24h" => "`slowest_step_groups`, last 24 h",
        "slowest_tasks_24h" => "`slowest_tasks`, last 24 h",
        "analytics_1h" => "`analytics_metrics`, last hour",
        "health_counts" => "`health_counts` (the SQL count; also run once when an engine starts)"
      }
      rows = labels.map do |key, label|
        min, median, max = fields.fetch(key).split("/").map { |v| Float(v) / 1000 }
        target = key == "slowest_steps_24h"
        row("tasker-core", label, "#{dur(median)} (#{dur(min)}–#{dur(max)})",
            target ? "≤ #{dur(SLOWEST_TARGET_SECONDS)}" : "", target ? median <= SLOWEST_TARGET_SECONDS : nil)
      end
      <<~MD.chomp

        PostgreSQL with #{num(Integer(fields.fetch('steps')))} stored steps over #{fields.fetch('days')} days
        (#{num(Integer(fields.fetch('finished_in_24h')))} finished in the last 24 hours), filled with
        `generate_series` in #{fields.fetch('fill_s')} s; median of #{fields.fetch('runs')} calls through the
        `Store` API (min–max). Command (also run by `rake bench`): `cargo bench -p tasker-state --bench insights_scale`.

        | Side | Measurement | Measured | Target | Met |
        | --- | --- | --- | --- | --- |
        #{rows.join("\n")}
      MD
    end
  end
end
