# frozen_string_literal: true

module Bench
  # The "Ractor handlers (issue 5)" section of docs/benchmarks.md, mixed into {Report}.
  # Reads ractors.json (benches/ractors.rb); the only constant is issue 5's target. Uses
  # {Report}'s `dur`, `num` and `row`.
  module RactorsReport
    RACTOR_SPEEDUP_TARGET = 1.8
    RACTORS_COMMAND = "ruby benches/ractors.rb --json target/bench/ractors.json"

    private

    def ractors = @ractors ||= read_json("ractors.json")

    def ractor_submit = @ractor_submit ||= read_json("ractor_submit.json")

    RACTOR_SUBMIT_COMMAND = "ruby benches/ractor_submit.rb --json target/bench/ractor_submit.json"

    def ractor_submit_section
      r = ractor_submit
      <<~MD
        ## Submitting from Ractors (issue 21)

        #{num(r['tasks'])} submissions per round through `engine.submitter`, each context built by
        pure-Ruby arithmetic of #{dur(r['build_seconds'])} first (calibrated at the start of the run),
        as an importer or parser would; `memory:`, no worker threads (the tasks only queue); a fresh
        engine per round, #{r['rounds']} timed rounds after a warm-up. Command (also run by
        `rake bench`):

        ```
        #{RACTOR_SUBMIT_COMMAND}
        ```

        | Side | Measurement | Measured | Target | Met |
        | --- | --- | --- | --- | --- |
        #{row('tasker-core', '2 Ractors vs 1 thread, tasks submitted per second', format('%.2f×', r['speedup']),
              "≥ #{RACTOR_SPEEDUP_TARGET}×", r['speedup'] >= RACTOR_SPEEDUP_TARGET)}

        | Producers | Tasks/s, median | Best | Every round |
        | --- | --- | --- | --- |
        #{r['setups'].map { |name, s| "| #{name} | #{num(s['median'].round)} | #{num(s['best'].round)} | #{s['rounds'].map { |x| num(x.round) }.join(', ')} |" }.join("\n")}
      MD
    end

    def ractors_section
      cpu = ractors["cpu"]
      <<~MD
        ## Ractor handlers (issue 5)

        #{ractors['steps']} independent steps whose handler is pure-Ruby arithmetic of
        #{dur(ractors['step_seconds'])} each (calibrated at the start of the run), `memory:`, one
        engine per set-up; #{ractors['rounds']} timed tasks after a warm-up, submit → completion.
        Threads share one GVL, so a second thread adds nothing; Ractors run in parallel.
        Command (also run by `rake bench`):

        ```
        #{RACTORS_COMMAND}
        ```

        | Side | Measurement | Measured | Target | Met |
        | --- | --- | --- | --- | --- |
        #{row('tasker-core', '2 Ractors vs 1 thread, CPU-bound workflow', format('%.2f×', ractors['speedup']),
              "≥ #{RACTOR_SPEEDUP_TARGET}×", ractors['speedup'] >= RACTOR_SPEEDUP_TARGET)}

        | Set-up | Task time, median | Best | Every round |
        | --- | --- | --- | --- |
        #{cpu.map { |name, r| "| #{name} | #{dur(r['median'])} | #{dur(r['best'])} | #{r['rounds'].map { |x| dur(x) }.join(', ')} |" }.join("\n")}

        Per-step cost of each path with no-op handlers (#{num(ractors['noop_steps'])} steps in one task,
        task time divided by steps): #{ractors['noop'].map { |name, r| "#{name} #{dur(r['per_step'])}" }.join(', ')}.
      MD
    end
  end
end
