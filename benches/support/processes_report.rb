# frozen_string_literal: true

module Bench
  # The "Several processes on one PostgreSQL database (issue 16)" section of
  # docs/benchmarks.md, mixed into {Report}. Reads processes.json (benches/processes.rb); the
  # section says so when it did not run. Every number comes from there; the only constant is
  # the issue's failover bound. Uses {Report}'s `num`.
  module ProcessesReport
    PROCESSES_COMMAND = "ruby benches/processes.rb --json target/bench/processes.json"
    # Issue 16: a dead process's tasks move on within the lease timeout + 5 s.
    FAILOVER_MARGIN_SECONDS = 5

    private

    def processes
      return @processes if defined?(@processes)

      path = File.join(@dir, "processes.json")
      @processes = File.exist?(path) ? read_json("processes.json") : nil
    end

    def processes_section
      data = processes
      head = "## Several processes on one PostgreSQL database (issue 16)\n\n"
      return "#{head}Not run in this run (`#{PROCESSES_COMMAND}`).\n" if data.nil?
      return "#{head}SKIPPED: #{data['skipped']}\n" if data["skipped"]

      lease = data.fetch("lease_timeout")
      single = data.fetch("single_process").fetch("steps_per_second")
      rows = data.fetch("processes").map do |r|
        "| #{r['workers']} worker process#{'es' if r['workers'] > 1} | #{num(r['steps_per_second'].round)} | " \
          "#{format('%.2f', r['steps_per_second'] / single)}× | #{r['steps_by_worker'].map { |n| num(n) }.join(' / ')} |"
      end
      failover = data.fetch("failover")
      bound = lease + FAILOVER_MARGIN_SECONDS
      fail_rows = { "killed" => "SIGKILL (same host: the pid is gone, dead at once)",
                    "stalled" => "SIGSTOP (alive to the host: dead when its #{lease} s lease runs out)" }
                  .map do |key, label|
        seconds = failover[key]
        measured = seconds ? format("%.2f s", seconds) : "not observed within 60 s"
        met = seconds ? (seconds <= bound ? "yes" : "no") : "no"
        "| #{label} | #{measured} | ≤ #{bound} s | #{met} |"
      end
      <<~MD
        #{head}A client engine (`role: :client`) submits #{num(data['tasks'])} 4-step chain tasks (no-op
        handlers) at once; 1, 2 and 3 worker processes (#{data['threads_per_worker']} handler threads each) claim
        and run them; timed from the first submission until the store counts every task complete.
        Beside it in the same run, the single-process path: one engine that submits the same tasks
        and runs them itself (#{num(single.round)} steps/s). The machine has #{data['cores']} cores, shared by the
        client, the workers and PostgreSQL. Command:

        ```
        #{PROCESSES_COMMAND}
        ```

        | Workers | steps/s | of the single-process path | steps run by each worker |
        | --- | --- | --- | --- |
        #{rows.join("\n")}

        Failover: 2 worker processes run 200 tasks of 20 ms steps; one is signalled. Measured from
        the signal to the first step of one of its tasks (from the claims table at the signal) run
        by the other worker. The survivor holds its own share (25 tasks per handler thread) and
        claims more once a quarter of that share is free, so the figure includes the time it needs
        to make room.

        | Victim | Measured | Target | Met |
        | --- | --- | --- | --- |
        #{fail_rows.join("\n")}
      MD
    end
  end
end
