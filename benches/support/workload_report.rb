# frozen_string_literal: true

module Bench
  # The "Small workflows (issue 15)" section of docs/benchmarks.md, mixed into {Report}.
  #
  # Reads workload.json (benches/workload.rb) and the `ceiling-bench:` lines of ceiling.log
  # (crates/state/benches/ceiling.rs) from the results folder; either may be absent (the
  # section then says what was not run). Every number comes from there; the only constants
  # are issue 15's targets. Uses {Report}'s `dur`, `num` and `ratio`.
  module WorkloadReport
    # Issue 15's targets. Not assertions: the section says whether each was met.
    WORKLOAD_TARGETS = {
      "sqlite" => { steps_per_second: 30_000, p50_seconds: 1e-3 },
      "postgres" => { steps_per_second: 15_000, p50_seconds: 2e-3 }
    }.freeze
    # tasker-core's chain throughput, read back, over Sidekiq's in the same run.
    SIDEKIQ_RATIO_TARGET = 5.0
    # "With 1,000,000 finished tasks stored ...: the same figures within 20 %."
    AFTER_FILL_TOLERANCE = 0.20

    WORKLOAD_STORES = { "memory" => "memory (`memory:`)", "sqlite" => "SQLite file", "postgres" => "PostgreSQL" }.freeze
    AT_ONCE = [["chain_read_back", "chain", "read back"], ["chain_state_only", "chain", "not read back"],
               ["diamond_read_back", "diamond", "read back"], ["diamond_state_only", "diamond", "not read back"]].freeze

    WORKLOAD_COMMANDS = [
      "cargo bench -p tasker-state --bench ceiling",
      "ruby benches/workload.rb --json target/bench/workload.json",
      "# or both, without writing this document: rake bench:workload"
    ].freeze

    private

    def workload
      return @workload if defined?(@workload)

      path = File.join(@dir, "workload.json")
      @workload = File.exist?(path) ? read_json("workload.json") : nil
    end

    # store => variant => the `ceiling-bench:` line's values; {} when the bench did not run. The
    # variants: "engine" (every row the engine writes; a line without `variant=`, from an
    # older ceiling.rs, is this one), "tasker" (Tasker's rows only) and "tasker+<extra>"
    # (Tasker's rows and one of tasker-core's extras). A store the bench skipped has only
    # "engine", with "skipped" => why.
    def ceilings
      @ceilings ||= begin
        path = File.join(@dir, "ceiling.log")
        lines = File.exist?(path) ? File.readlines(path) : []
        skipped = lines.find { |l| l.start_with?("SKIPPED:") }&.delete_prefix("SKIPPED:")&.strip
        lines.grep(/\Aceiling-bench:/).each_with_object({}) do |line, by_store|
          values = line.split(":", 2).last.split.to_h do |kv|
            k, v = kv.split("=", 2)
            [k, v.match?(/\A-?\d+\z/) ? Integer(v) : (Float(v, exception: false) || v)]
          end
          values["skipped"] = skipped || "skipped" if values["skipped"] == 1
          (by_store[values.fetch("store")] ||= {})[values.fetch("variant", "engine")] = values
        end
      end
    end

    def workload_section
      return workload_not_run if workload.nil?

      <<~MD
        ## Small workflows (issue 15)

        The workload users run: many small durable workflows submitted at once, each result read
        back, on tables that keep growing; Sidekiq + Redis in the same run as the baseline. The
        targets are issue 15's; they are goals, not test assertions. Commands (also run by `rake bench`):

        ```
        #{WORKLOAD_COMMANDS.join("\n")}
        ```

        #{workload_targets_table}
        #{workload_at_once_table}
        #{workload_serial_table}
        #{workload_sidekiq_table}
        #{workload_ceiling_table}
        #{workload_fill_text}
        #{workload_before_after}
        #{workload_how_measured}
      MD
    end

    # What issue 15 changed, measured in one session: this bench on the code before the
    # change (79172c9 with the bench added) and after, and where the time went. Fixed text:
    # the "before" run cannot be repeated by this run.
    def workload_before_after
      <<~MD
        ### Issue 15: before and after, and where the time goes

        `ruby benches/workload.rb` on 2026-12-03 on this machine, first on 79172c9 (the code
        before issue 15, with this bench added; load average 3.9-4.6, as builds ran beside
        it), then on the changed code (the tables above; load about 1.5-1.9). The filled stores
        are the same files and schema. "partial": the 60 s budget ran out.

        | Store | Measurement | Before | After |
        | --- | --- | ---: | ---: |
        | memory | 2,000 × chain, read back, steps/s | 28,802 | 52,499 |
        | SQLite file | 2,000 × chain, read back, steps/s | 4,060 | 14,082 |
        | SQLite file | one chain at a time, read back, p50 | 3.23 ms | 2.03 ms |
        | SQLite file | after 1,000,000 tasks: 2,000 × chain, read back | 2,634 | 13,792 |
        | SQLite file | after 1,000,000 tasks: one chain at a time, p50 | 4.13 ms | 1.64 ms |
        | PostgreSQL | 2,000 × chain, read back, steps/s | 55 (partial) | 3,255 |
        | PostgreSQL | one chain at a time, read back, p50 | 245 ms | 6.41 ms |
        | PostgreSQL | after 1,000,000 tasks: 2,000 × chain, read back | 1 (partial: 14 of 2,000 read) | 3,548 |
        | PostgreSQL | after 1,000,000 tasks: one chain at a time, p50 | 2.66 s | 9.13 ms |
        | Sidekiq + Redis | 2,000 chains, steps/s (its own run each time) | 939 | 1,506 |

        Where the time went before, and what changed:

        | Store | Before: where the time went | Change | After: where the time goes |
        | --- | --- | --- | --- |
        | all | Reading each result back: `wait_for_task` read the task's state from the store at every wake-up, then `task_result` read the whole task (seven statements in one snapshot) | The engine keeps the outcome of each task it finished once the finish commits (bounded, 20,000; a manual operation drops it): a result read back is a map lookup | Running and committing the tasks; reading back now costs building the Ruby result (a Hash, then a `TaskResult` with its `StepResult`s): read back against not read back in this run, 5 % fewer steps/s on SQLite, 24 % on PostgreSQL, 39 % in memory |
        | PostgreSQL | The task read joined the step history and the edges through `task_id`; without statistics both were sequential scans (`EXPLAIN (ANALYZE, BUFFERS)` after the fill: 8.1M step transitions, 2.1 s; 3M edges, 0.48 s) | History and edges read by the step ids already read (`= ANY($1)` on their indexes) | Index scans; `crates/state/tests/plans_at_scale.rs` fails on any sequential scan of a Tasker table |
        | PostgreSQL | Statements prepared while the tables were small kept generic plans with hash joins over sequential scans (336 sequential scans of tasks, steps and task transitions in one fresh run) | The store's connections plan with index scans and nested loops only (insights transactions turn the rest back on) | Per small batch: about 1.2-1.8 ms inside the server (the write statement over Tasker's 17 indexes on steps, 14 on step transitions, 14 on edges, 13 on tasks, and the foreign-key triggers), about 3 ms as the state actor sees it, two batches per task |
        | SQLite file | 3 trips to sqlx's SQLite thread per batch, JSON row decoding | (unchanged) | `perf` of the 2,000-task run: the extension 52 % (SQLite's VDBE and B-tree about 15 %, its JSON functions about 8 %), Ruby 19 %, the kernel 20 % (thread wake-ups), libc 9 % |

        A second round (later the same day; "before" is the run above, "after" the tables of
        this document, whose fresh-store rows ran at a load average of about 5, a helper's
        build and fuzz beside them): what still grew with the store, and engine start.

        | Store | Before: where the time went | Change | Before → after |
        | --- | --- | --- | --- |
        | PostgreSQL | Each batch's head flip (`UPDATE … WHERE owner = ? AND sort_key = ? AND most_recent`) was a BitmapAnd with Tasker's index on `sort_key` alone, which matches half of every history (auto_explain at 200,000 tasks: 9 ms per batch; `plans_at_scale` counted 9.6 million index entries in 20 runs) | `sort_key + 0`: the head is found by the unique (owner, most_recent) index only; `plans_at_scale` now also fails on a large range of any index | after 1,000,000 tasks, one chain at a time p50: 9.13 ms → 5.70 ms; 2,000 × chain read back: 3,548 → 5,539 steps/s |
        | PostgreSQL | With stale statistics small lookups were priced above `jit_above_cost` and the parallel thresholds (60 ms of JIT and worker start-up around a read of one index page) | Store connections run with `jit = off`, `max_parallel_workers_per_gather = 0` | listing unfinished tasks at 200,000 tasks: 60 ms → 0.06 ms in `EXPLAIN ANALYZE` |
        | both | `Engine.start` counted the stored tasks for the live health counters (a full scan) and `recover` listed unfinished tasks by joining every task to its head | The count runs in a read snapshot pinned at start, off the start path (commits never wait for it); unfinished tasks are read through an index of the tasks not complete | after 1,000,000 tasks, start and template registration: SQLite 8.71 s → 16 ms, PostgreSQL 11.5 s → 117 ms (before without `recover`, after with it) (the first health reading then waits for the count: 7.6 s / 8.8 s) |
        | PostgreSQL | Registering a 10,000-step template probed Tasker's single-column indexes on `dependent_system_id` and `named_task_id`, which all its steps share (10-12 s per statement) | Named steps looked up by name, links by named step (`+ 0` on the shared column) | 12 s → 0.83-1.17 s (`durable_throughput`); what is left is Tasker's foreign-key triggers on 10,000 links and the GIN index on the 1.8 MB configuration |
      MD
    end

    def workload_not_run
      <<~MD
        ## Small workflows (issue 15)

        **Not run**: target/bench/workload.json is missing (this run did not include
        `ruby benches/workload.rb --json target/bench/workload.json`; `rake bench:workload` runs it
        with the ceiling bench).
      MD
    end

    # --- helpers ------------------------------------------------------------------------

    def wl_label(store) = WORKLOAD_STORES.fetch(store, store)

    def wl_rate(r) = r.dig("steps_per_second", "median")

    # "12,345 steps/s" with a mark when the measurement ran out of its time budget.
    def wl_rate_text(r)
      return "not run" if r.nil?

      text = num(wl_rate(r))
      r["partial"] ? "#{text} (partial: #{r['tasks_done'].map { |d| num(d) }.join(', ')} of #{num(workload['tasks'])} tasks read within #{workload['budget_seconds']} s)" : text
    end

    def wl_fill_label = "after #{num(workload['fill'])} tasks"

    def wl_met(value) = { true => "yes", false => "**no**", nil => "" }.fetch(value)

    def wl_row(store, label, measured, target, met)
      "| #{wl_label(store)} | #{label} | #{measured} | #{target} | #{wl_met(met)} |"
    end

    def sidekiq_rate
      s = workload["sidekiq"]
      s && !s["skipped"] ? s.dig("steps_per_second", "median") : nil
    end

    # --- tables -------------------------------------------------------------------------

    def workload_targets_table
      rows = []
      steps = workload.dig("templates", "chain", "steps")
      %w[sqlite postgres].each do |store|
        target = WORKLOAD_TARGETS.fetch(store)
        fresh = workload.dig("fresh", store)
        if fresh.nil? || fresh["skipped"]
          rows << wl_row(store, "all", "**SKIPPED**: #{fresh ? fresh['skipped'] : 'not in this run'}", "", nil)
          next
        end
        chain = fresh.dig("at_once", "chain_read_back")
        label = "#{num(workload['tasks'])} × #{steps}-step chain at once, results read back"
        rows << wl_row(store, label, "#{wl_rate_text(chain)} steps/s", "≥ #{num(target[:steps_per_second])} steps/s",
                       wl_rate(chain) >= target[:steps_per_second])
        if (sk = sidekiq_rate)
          r = wl_rate(chain) / sk
          rows << wl_row(store, "the same / Sidekiq's in this run", ratio(r), "≥ #{ratio(SIDEKIQ_RATIO_TARGET)}",
                         r >= SIDEKIQ_RATIO_TARGET)
        end
        p50 = fresh.dig("serial_read_back", "p50")
        rows << wl_row(store, "one #{steps}-step chain at a time, read back: p50", dur(p50), "≤ #{dur(target[:p50_seconds])}",
                       p50 <= target[:p50_seconds])
        rows.concat(after_fill_target_rows(store, fresh, target, label))
      end
      <<~MD
        ### Against the targets

        "Met" is judged on the median of #{workload['repetitions']} repetitions (throughput; on the filled
        stores #{workload['fill_repetitions'] || workload['repetitions']}) and on
        the p50 of the samples (latency). "#{wl_fill_label.capitalize}" rows: the same engine
        measurements on a store already holding #{num(workload['fill'])} finished tasks written
        without ANALYZE afterwards; met when within #{(AFTER_FILL_TOLERANCE * 100).round} % of the
        same run's fresh figure and of the target.

        | Store | Measurement | Measured | Target | Met |
        | --- | --- | --- | --- | --- |
        #{rows.join("\n")}
      MD
    end

    def after_fill_target_rows(store, fresh, target, label)
      filled = workload.dig("after_fill", store)
      return [] if filled.nil?
      return [wl_row(store, "#{wl_fill_label}: all", "**SKIPPED**: #{filled['skipped']}", "", nil)] if filled["skipped"]

      keep = 1 - AFTER_FILL_TOLERANCE
      chain = filled.dig("at_once", "chain_read_back")
      before = wl_rate(fresh.dig("at_once", "chain_read_back"))
      rate = wl_rate(chain)
      p50 = filled.dig("serial_read_back", "p50")
      p50_before = fresh.dig("serial_read_back", "p50")
      [wl_row(store, "#{wl_fill_label}: #{label}",
              "#{wl_rate_text(chain)} steps/s (#{format('%.0f', 100.0 * rate / before)} % of fresh)",
              "≥ #{num(target[:steps_per_second] * keep)} steps/s and ≥ #{(keep * 100).round} % of fresh",
              rate >= target[:steps_per_second] * keep && rate >= before * keep),
       wl_row(store, "#{wl_fill_label}: one chain at a time, read back: p50",
              "#{dur(p50)} (#{format('%.2f', p50 / p50_before)}× fresh)",
              "≤ #{dur(target[:p50_seconds] / keep)} and ≤ #{format('%.2f', 1 / keep)}× fresh",
              p50 <= target[:p50_seconds] / keep && p50 <= p50_before / keep)]
    end

    def workload_runs
      runs = []
      workload.fetch("backends").each do |store|
        r = workload.dig("fresh", store)
        runs << [store, "fresh", r] if r
        f = workload.dig("after_fill", store)
        runs << [store, wl_fill_label, f] if f
      end
      runs
    end

    def workload_at_once_table
      rows = workload_runs.map do |store, state, r|
        next "| #{wl_label(store)} | #{state} | skipped: #{r['skipped']} | | | | | |" if r["skipped"]

        a = r.fetch("at_once")
        chain = a.fetch("chain_read_back")
        server = if chain["server_xact_commit_per_task"]
                   "#{format('%.1f', chain['server_xact_commit_per_task'])} / #{num(chain['server_tup_returned_per_task'])} / " \
                     "#{num(chain['server_blks_hit_per_task'] + chain['server_blks_read_per_task'])}"
                 else
                   "–"
                 end
        "| #{wl_label(store)} | #{state} | " + AT_ONCE.map { |key, _| wl_rate_text(a[key]) }.join(" | ") +
          " | #{format('%.3f', chain['store_batches_per_task'])} | #{server} |"
      end
      heads = AT_ONCE.map { |_, shape, how| "#{shape.capitalize}, #{how}" }
      <<~MD
        ### Tasks at once: steps per second

        #{num(workload['tasks'])} tasks submitted at once, then each awaited in submission order; the
        wall time runs from the first `submit_task` to the last wait's return. Chain:
        `#{workload.dig('templates', 'chain', 'path')}` (#{workload.dig('templates', 'chain', 'steps')} steps);
        diamond: `#{workload.dig('templates', 'diamond', 'path')}` (#{workload.dig('templates', 'diamond', 'steps')}
        steps: a root, a fan-out of 6, a join); handlers `Fixtures::NoopHandler`. "Read back":
        `engine.wait_for_task(id)`, a `TaskResult` checked complete; "not read back":
        `engine.native.wait_for_task(id)`, the final state only. Median of #{workload['repetitions']}
        repetitions (#{workload['fill_repetitions'] || workload['repetitions']} on the filled stores). Store transactions are the state actor's batches per task (chain, read
        back); the PostgreSQL server's work per task (chain, read back) is from
        `pg_stat_database`: transactions committed (in autocommit one per statement), rows the
        statements read (`tup_returned`: a sequential scan reads every row of its table), buffer
        pages touched.

        | Store | Store holds | #{heads.join(' | ')} | Store transactions per task | Server: transactions / rows read / pages per task |
        | --- | --- | --- | --- | --- | --- | --- | --- |
        #{rows.join("\n")}
      MD
    end

    def workload_serial_table
      rows = workload_runs.map do |store, state, r|
        next "| #{wl_label(store)} | #{state} | skipped | | | | |" if r["skipped"]

        s = r.fetch("serial_read_back")
        o = r.fetch("serial_state_only")
        partial = s["partial"] ? " (#{num(s['samples'])} samples within the budget)" : ""
        "| #{wl_label(store)} | #{state} | #{dur(s['p50'])}#{partial} | #{dur(s['p90'])} | #{dur(s['p99'])} | " \
          "#{dur(o['p50'])} / #{dur(o['p99'])} | #{format('%.2f', s['store_batches_per_task'])} |"
      end
      if (sk = workload["sidekiq"]) && !sk["skipped"]
        s = sk.fetch("serial")
        rows << "| Sidekiq #{sk['version']} + Redis | (in memory) | #{dur(s['p50'])} | #{dur(s['p90'])} | #{dur(s['p99'])} | – | – |"
      end
      <<~MD
        ### One task at a time: latency

        A chain task, `submit_task` → `engine.wait_for_task` (read back) or →
        `engine.native.wait_for_task` (state only), one at a time; #{num(workload['serial_warm_up'])} warm-up
        tasks, then #{num(workload['serial_samples'])} samples each. Nearest-rank percentiles.

        | Store | Store holds | p50, read back | p90 | p99 | p50 / p99, not read back | Store transactions per task |
        | --- | --- | --- | --- | --- | --- | --- |
        #{rows.join("\n")}
      MD
    end

    def workload_sidekiq_table
      sk = workload["sidekiq"]
      return "### Sidekiq + Redis in the same run\n\n**SKIPPED: #{sk['skipped']}**\n" if sk.nil? || sk["skipped"]

      rate = sk.dig("steps_per_second", "median")
      rows = workload_runs.filter_map do |store, state, r|
        next if r["skipped"]

        chain = r.dig("at_once", "chain_read_back")
        "| #{wl_label(store)} | #{state} | #{wl_rate_text(chain)} | #{ratio(wl_rate(chain) / rate)} | " \
          "#{ratio(sk.dig('serial', 'p50') / r.dig('serial_read_back', 'p50'))} |"
      end
      <<~MD
        ### Sidekiq + Redis in the same run

        Sidekiq #{sk['version']} (Debian `ruby-sidekiq`) with Redis #{sk['redis_version']} on this machine
        (a database number of the bench's own, flushed before and after), server as a child process:
        `#{sk['command']}`. The same 4-step chain as jobs: job 1 enqueues job 2, …, job 4 pushes
        the workflow's id to a list; the driver enqueues #{num(sk['tasks'])} workflows and reads all
        #{num(sk['tasks'])} completions back (BLPOP): #{num(rate)} steps/s (median of
        #{sk.dig('steps_per_second', 'rounds').size}: #{sk.dig('steps_per_second', 'rounds').map { |v| num(v) }.join(', ')});
        one workflow at a time, p50 #{dur(sk.dig('serial', 'p50'))}. Not durable: Redis keeps the jobs in memory.

        | Store | Store holds | tasker-core chain, read back, steps/s | tasker-core / Sidekiq | Serial p50: Sidekiq / tasker-core (above 1: tasker-core faster) |
        | --- | --- | --- | --- | --- |
        #{rows.join("\n")}
      MD
    end

    CEILING_VARIANTS = { "engine" => "the engine's rows", "tasker" => "Tasker's rows only" }.freeze

    def workload_ceiling_table
      if ceilings.empty?
        return "### Ceilings\n\n**Not run**: target/bench/ceiling.log is missing " \
               "(`cargo bench -p tasker-state --bench ceiling`).\n"
      end

      rows = %w[sqlite postgres].flat_map do |store|
        variants = ceilings[store] or next []
        next ["| #{wl_label(store)} | | skipped: #{variants['engine']['skipped']} | | | |"] if variants.dig("engine", "skipped")

        CEILING_VARIANTS.filter_map do |variant, label|
          c = variants[variant] or next
          fresh = workload.dig("fresh", store)
          measured = fresh && !fresh["skipped"] ? fresh.dig("at_once", "chain_read_back") : nil
          state_only = fresh && !fresh["skipped"] ? fresh.dig("at_once", "chain_state_only") : nil
          fraction = ->(r) { r ? format("%.0f %%", 100.0 * wl_rate(r) / c["steps_per_second"]) : "not run" }
          "| #{wl_label(store)} | #{label} | #{dur(c['median_ms'] / 1e3)} (create #{dur(c['create_median_ms'] / 1e3)}, " \
            "finish #{dur(c['finish_median_ms'] / 1e3)}) | #{num(c['steps_per_second'])} | " \
            "#{fraction.(measured)} | #{fraction.(state_only)} |"
        end
      end
      c = ceilings.values.filter_map { |v| v["engine"] unless v.dig("engine", "skipped") }.first || {}
      <<~MD
        ### Ceilings: the same rows written with nothing else

        `crates/state/benches/ceiling.rs`, no engine and no Ruby: #{num(c['tasks'] || 0)}
        #{c['steps_per_task']}-step chain tasks written in two transactions, one creating the tasks and
        one finishing them. "The engine's rows": every row the engine ends with (tasks, steps, edges,
        task and step transitions through to complete, the steps' columns updated, and on
        PostgreSQL the claims inserted and deleted), with tasker-core's own indexes on Tasker's
        tables; "Tasker's rows only": the same without the claims and with those indexes dropped,
        what Tasker's schema alone costs. PostgreSQL: set-based statements (`INSERT … SELECT … FROM
        generate_series`, ranged `UPDATE`s); SQLite: prepared statements run in a loop through the C
        API inside each transaction, on a WAL file with the store's pragmas. Median of #{c['rounds']}
        rounds, each on #{num(c['tasks'] || 0)} new tasks, the variants' rounds interleaved. The
        fractions are the same run's workload throughput (#{num(workload['tasks'])} chains, fresh
        store) over each ceiling.

        | Store | Rows written | Two transactions, median | Ceiling, steps/s | Chain read back, fraction of ceiling | Chain not read back, fraction |
        | --- | --- | --- | --- | --- | --- |
        #{rows.join("\n")}

        #{ceiling_extras_table}
      MD
    end

    # What each of tasker-core's extras costs on top of Tasker's rows, measured one at a time.
    def ceiling_extras_table
      rows = %w[sqlite postgres].flat_map do |store|
        variants = ceilings[store] or next []
        base = variants["tasker"] or next []
        cost = lambda do |c|
          delta = c["median_ms"] - base["median_ms"]
          format("%+.2f ms (%+.0f %%)", delta, 100.0 * delta / base["median_ms"])
        end
        extras = variants.select { |k, _| k.start_with?("tasker+") }.map do |variant, c|
          "| #{wl_label(store)} | #{variant.delete_prefix('tasker+')} | #{dur(c['median_ms'] / 1e3)} | #{cost.(c)} |"
        end
        engine = variants["engine"]
        extras + (engine ? ["| #{wl_label(store)} | all of them (the engine's rows) | #{dur(engine['median_ms'] / 1e3)} | #{cost.(engine)} |"] : [])
      end
      return "" if rows.empty?

      <<~MD.chomp
        What tasker-core adds, one extra at a time: Tasker's rows plus that one (an index of
        tasker-core's on a Tasker table, or the claims rows), against Tasker's rows alone in the
        same run (differences of medians: a few percent is within the rounds' spread).

        | Store | Extra | Two transactions, median | Over Tasker's rows alone |
        | --- | --- | --- | --- |
        #{rows.join("\n")}
      MD
    end

    def workload_fill_text
      filled = (workload["after_fill"] || {}).reject { |_, r| r["skipped"] }
      return "" if filled.empty?

      parts = filled.map do |store, r|
        f = r.fetch("fill")
        took = f["seconds"] ? dur(f["seconds"]) : "(time not recorded)"
        took += ", then #{dur(f['settle_seconds'])} putting it on disk" if f["settle_seconds"]
        rows = f["rows"].empty? ? "" : " (#{f['rows'].map { |t, n| "#{num(n)} #{t.delete_prefix('tasker_')}" }.join(', ')})"
        reused = f["reused"] ? ", filled before this run by the same code (TASKER_BENCH_WORKLOAD_FILLED_*)" : ""
        "#{wl_label(store)}: #{took} for #{num(f['tasks'])} tasks#{rows}#{reused}; " \
          "then `Engine.start` (with `recover`) and registering the templates on the full store took " \
          "#{dur(r['engine_start_seconds'])} (fresh: #{dur(workload.dig('fresh', store, 'engine_start_seconds') || 0)})" \
          "#{first_health(r)}"
      end
      <<~MD
        ### The fill

        benches/support/workload_fill.rb writes the finished tasks straight into Tasker's tables with
        one set-based `INSERT … SELECT` per table (PostgreSQL: `generate_series`, in one
        transaction with `synchronous_commit = off` and `session_replication_role = replica`
        for that session, which skips the foreign-key triggers; SQLite: recursive CTEs in one
        transaction), the rows as the engine writes them for a completed 4-step chain of the
        registered template, ids after the ones the engine had used (PostgreSQL sequences
        moved past them). No ANALYZE afterwards; the server runs with autovacuum off, so the
        planner sees the tables as they were before the fill. Then the fill's writes are put on
        disk before the engine opens the store (PostgreSQL: its rows' hint bits set by a read of
        each table, then `CHECKPOINT`; SQLite an `fsync` of the file), as a table grown over weeks
        long has been: the fill skips the syncs an app pays as it goes, and its dirty pages (on
        PostgreSQL also the pages its first reader hints) were otherwise written out during the
        measurements.
        #{parts.map { |p| "- #{p}" }.join("\n")}
      MD
    end

    # The wait of the first health reading after start: the stored counts are made off the
    # start path (engine/boot.rs). Older results have no such figure.
    def first_health(result)
      seconds = result["first_health_seconds"] or return ""
      "; the first health reading after it waited #{dur(seconds)} for the store's counts"
    end

    def workload_how_measured
      la = workload["load_average_before"]
      load = la ? "Load average (1, 5, 15 min) when the workload bench began: #{la.join(', ')}; at its end: " \
                  "#{workload['load_average_after']&.join(', ')}. " : ""
      <<~MD
        ### How measured

        #{load}The workload bench took #{dur(workload['seconds'])}. Each store's engine:
        `TaskerCore::Engine.start(workers: #{workload['workers']}, batch_size: #{workload['batch_size']},
        database_url: URL, recover: true)` on a store of its own (a fresh SQLite file on
        #{workload['sqlite_file_system']}, a fresh PostgreSQL schema on #{workload['postgres_server']}),
        alone in the process; #{num(workload['warm_up_tasks'])} warm-up tasks. A measurement still
        running after #{workload['budget_seconds']} s stops reading and counts what it read
        ("partial"). Knobs: `TASKER_BENCH_FILL`, `TASKER_BENCH_WORKLOAD_TASKS`,
        `TASKER_BENCH_WORKLOAD_REPETITIONS`, `TASKER_BENCH_WORKLOAD_SAMPLES`,
        `TASKER_BENCH_WORKLOAD_BUDGET`, `TASKER_BENCH_WORKLOAD_STORES`, `TASKER_BENCH_DATABASE_URL`
        (see benches/workload.rb).
      MD
    end

    def workload_method_lines
      <<~MD.chomp
        - **Small workflows (issue 15)**: `benches/workload.rb` (wall clock from the first submit to
          the last wait; the fill in `benches/support/workload_fill.rb`; Sidekiq in
          `benches/support/workload_sidekiq.rb`), and `crates/state/benches/ceiling.rs` (its own
          timing loop; it prints `ceiling-bench:` lines, read from `target/bench/ceiling.log`).
      MD
    end
  end
end
