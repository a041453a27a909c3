# frozen_string_literal: true

module Bench
  # The "Durable state (issue 3)" section of docs/benchmarks.md, mixed into {Report}.
  #
  # Reads what the durable benches left in the results folder: durable_throughput.json and
  # durable_latency.json (benches/durable_*.rb) and the `sql-readiness-bench:` line (or the
  # `SKIPPED:` line) in sql_readiness.log (crates/state/benches/sql_readiness.rs). Every number
  # comes from there; the only constants are issue 3's targets. Uses {Report}'s `dur`, `num`
  # and `row`.
  module DurableReport
    # Issue 3's targets. Not assertions: the section says whether each was met.
    DURABLE_TARGETS = {
      "sqlite" => { steps_per_second: 50_000, p50_seconds: 1e-3 },
      "postgres" => { steps_per_second: 20_000, p50_seconds: 2e-3 }
    }.freeze
    SQL_SPEEDUP_TARGET = 500

    STORE_LABELS = { "memory" => "memory (`memory:`)", "sqlite" => "SQLite file", "postgres" => "PostgreSQL" }.freeze

    # Commands of the durable benches, as `rake bench` runs them (for the section's text).
    DURABLE_COMMANDS = [
      "cargo bench -p tasker-state --bench sql_readiness",
      "ruby benches/durable_throughput.rb --json target/bench/durable_throughput.json",
      "ruby benches/durable_latency.rb --json target/bench/durable_latency.json"
    ].freeze

    private

    # --- inputs -----------------------------------------------------------------------

    def durable_throughput = @durable_throughput ||= read_json("durable_throughput.json")

    def durable_latency = @durable_latency ||= read_json("durable_latency.json")

    # The `sql-readiness-bench:` line as a Hash (Integer or Float values), plus "skip_reason"
    # when the bench printed a SKIPPED line.
    def sql_bench
      @sql_bench ||= begin
        lines = File.readlines(File.join(@dir, "sql_readiness.log"))
        line = lines.find { |l| l.start_with?("sql-readiness-bench:") }
        raise "the SQL readiness bench printed no sql-readiness-bench: line (see #{@dir}/sql_readiness.log)" unless line

        values = line.split(":", 2).last.split.to_h do |kv|
          k, v = kv.split("=", 2)
          [k, v.include?(".") ? Float(v) : Integer(v)]
        end
        skipped = lines.find { |l| l.start_with?("SKIPPED:") }
        values["skip_reason"] = skipped.delete_prefix("SKIPPED:").strip if skipped
        values
      end
    end

    def sql_skipped? = sql_bench["skipped"] == 1

    # --- the section ------------------------------------------------------------------

    def durable_section
      <<~MD
        ## Durable state (issue 3)

        The same engine with its tasks in a durable store: an SQLite file (WAL, `synchronous =
        NORMAL`, as `SqliteStore` opens it; a fresh file per engine in a temp folder on
        #{durable_throughput['sqlite_file_system']}) and PostgreSQL (#{postgres_description}),
        with the in-process store (`memory:`) measured in the same run as the baseline. The targets
        are issue 3's; they are goals, not test assertions. Commands (also run by `rake bench`):

        ```
        #{DURABLE_COMMANDS.join("\n")}
        ```

        #{durable_targets_table}
        #{durable_throughput_section}
        #{durable_latency_section}
        #{sql_readiness_section}
      MD
    end

    def postgres_description
      skipped = durable_throughput["postgres_skipped"]
      return "**not measured: #{skipped}**" if skipped

      version = sql_skipped? ? "" : " #{server_version(sql_bench['server_version_num'])}"
      "server#{version}, a fresh schema per engine, dropped at the end"
    end

    # 150020 → "15.20"
    def server_version(num) = "#{num / 10_000}.#{num % 10_000}"

    def durable_targets_table
      rows = throughput_target_rows + latency_target_rows + [readiness_target_row]
      <<~MD
        ### Against the targets

        "Met" is judged on the median of the repetitions (throughput), on the p50 of the samples
        (latency), and on the ratio of the two medians (readiness). Issue 3 states the throughput
        targets for 4 worker threads; the 1-thread rows are judged against the same numbers.

        | Store | Measurement | Measured | Target | Met |
        | --- | --- | --- | --- | --- |
        #{rows.join("\n")}
      MD
    end

    def throughput_target_rows
      d = durable_throughput
      %w[4 1].product(%w[sqlite postgres memory]).filter_map do |workers, backend|
        r = d.fetch("runs").fetch(workers, {})[backend] or next
        label = "#{num(d['steps'])}-step template, no-op handlers, #{workers} worker " \
                "thread#{workers == '1' ? '' : 's'}, end to end"
        target = DURABLE_TARGETS.dig(backend, :steps_per_second)
        target_text = target ? "≥ #{num(target)} steps/s" : "(baseline)"
        next durable_row(backend, label, "**SKIPPED**: #{r['skipped']}", target_text, :skipped) if r["skipped"]

        t = r.fetch("steps_per_second")
        durable_row(backend, label, "#{num(t['median'])} steps/s median, #{num(t['best'])} best", target_text,
                    target && t["median"] >= target)
      end
    end

    def latency_target_rows
      l = durable_latency
      %w[sqlite postgres memory].filter_map do |backend|
        r = l.fetch("results")[backend] or next
        label = "Latency of a #{l['steps']}-step linear task, submit to complete, #{l['workers']} workers: p50"
        target = DURABLE_TARGETS.dig(backend, :p50_seconds)
        target_text = target ? "≤ #{dur(target)}" : "(baseline)"
        next durable_row(backend, label, "**SKIPPED**: #{r['skipped']}", target_text, :skipped) if r["skipped"]

        durable_row(backend, label, "#{dur(r['p50'])} (p99 #{dur(r['p99'])})", target_text,
                    target && r["p50"] <= target)
      end
    end

    def readiness_target_row
      label = "Readiness of a #{num(sql_bench['steps'])}-step task: SQL function time / Rust resolver time"
      target_text = "≥ #{SQL_SPEEDUP_TARGET}×"
      return durable_row("postgres", label, "**SKIPPED**: #{sql_bench['skip_reason']}", target_text, :skipped) if sql_skipped?

      speedup = sql_bench["speedup_median"]
      durable_row("postgres", label, "#{format('%.0f', speedup)}× (medians)", target_text, speedup >= SQL_SPEEDUP_TARGET)
    end

    # A row of the targets table; `met` is true, false, nil (no target) or :skipped.
    def durable_row(backend, label, measured, target, met)
      verdict = { true => "yes", false => "**no**", nil => "", skipped: "skipped" }.fetch(met)
      "| #{STORE_LABELS.fetch(backend)} | #{label} | #{measured} | #{target} | #{verdict} |"
    end

    def durable_throughput_section
      d = durable_throughput
      rows = []
      d.fetch("runs").each do |workers, backends|
        d.fetch("backends").each do |backend|
          r = backends[backend] or next
          if r["skipped"]
            rows << "| #{workers} | #{STORE_LABELS[backend]} | skipped | | | | |"
            next
          end
          t = r.fetch("steps_per_second")
          memory = backends.dig("memory", "steps_per_second", "median")
          share = memory && backend != "memory" ? format(" (%.0f%% of memory)", 100.0 * t["median"] / memory) : ""
          rows << "| #{workers} | #{STORE_LABELS[backend]} | #{num(t['median'])}#{share} | #{num(t['best'])} | " \
                  "#{t['rounds'].map { |v| num(v) }.join(', ')} | " \
                  "#{num(r.dig('store_batches_per_task', 'median'))} (#{num(r.dig('store_changes_per_task', 'median'))}) | " \
                  "#{dur(r.dig('flush_seconds_after_wait', 'median'))} |"
        end
      end
      <<~MD
        ### End-to-end throughput on each store

        `Engine.start(workers: N, batch_size: #{d['batch_size']}, database_url: URL, recover: false)`, one engine
        per store and worker count, each alone in the process (closed before the next starts), the
        #{num(d['steps'])}-step template registered once. One repetition is `submit_task` →
        `native.wait_for_task` returning "complete", which happens once the batch that finished the
        task is committed; one untimed warm-up per engine, then #{d['repetitions']} repetitions.
        "Store transactions" are the state actor's batches
        (one transaction each) during the repetition, and the changes they wrote. The `flush` measured
        after the wait (not in the steps/s) shows what was still left to write.

        | Worker threads | Store | Steps/s, median | Best | Every repetition | Store transactions per task (changes) | Flush after wait, median |
        | --- | --- | --- | --- | --- | --- | --- |
        #{rows.join("\n")}

        #{setup_costs_sentence}
      MD
    end

    # Engine start and template registration, which the steps/s leave out.
    def setup_costs_sentence
      parts = durable_throughput.fetch("runs").flat_map do |workers, backends|
        backends.filter_map do |backend, r|
          next if r["skipped"] || backend == "memory"

          "#{dur(r['register_template_seconds'])} on #{STORE_LABELS[backend]} (#{workers} worker" \
            "#{workers == '1' ? '' : 's'})"
        end
      end
      return "" if parts.empty?

      "Not in the steps/s: registering the #{num(durable_throughput['steps'])}-step template " \
        "(`register_template`, which writes its named steps) took #{parts.join(', ')}."
    end

    def durable_latency_section
      l = durable_latency
      rows = l.fetch("backends").filter_map do |backend|
        r = l.fetch("results")[backend] or next
        next "| #{STORE_LABELS[backend]} | skipped: #{r['skipped']} | | | | | |" if r["skipped"]

        "| #{STORE_LABELS[backend]} | #{dur(r['p50'])} | #{dur(r['p90'])} | #{dur(r['p99'])} | #{dur(r['max'])} | " \
          "#{dur(r['mean'])} | #{format('%.2f', r['store_batches_per_task'])} |"
      end
      <<~MD
        ### Latency of one small task

        `#{l['template']}` (#{l['steps']} steps in a chain) with its handlers replaced by
        `Fixtures::NoopHandler`; `workers: #{l['workers']}`; one engine per store, each alone in the
        process. One sample is `submit_task` → `native.wait_for_task` returning "complete", one task at
        a time; #{num(l['warm_up'])} warm-up tasks per store, then #{num(l['samples'])} samples per store.
        Nearest-rank percentiles: the p99 is the
        #{num(l['samples'] - (0.99 * l['samples']).ceil + 1)}th slowest sample.

        | Store | p50 | p90 | p99 | Max | Mean | Store transactions per task |
        | --- | --- | --- | --- | --- | --- | --- |
        #{rows.join("\n")}
        #{latency_context}
      MD
    end

    # The PostgreSQL floor from the readiness bench (same server, same run), next to the p50.
    def latency_context
      pg = durable_latency.dig("results", "postgres")
      return "" if sql_skipped? || pg.nil? || pg["skipped"]

      "\nFor scale, on the same server in the same run (crates/state/benches/sql_readiness.rs): a " \
        "`SELECT 1` round trip takes #{dur(sql_bench['select1_median_ns'] * 1e-9)} and a one-row " \
        "INSERT committed on its own #{dur(sql_bench['commit_median_ns'] * 1e-9)} (medians, " \
        "`synchronous_commit` #{sql_bench['synchronous_commit_on'] == 1 ? 'on' : 'off'}); a PostgreSQL " \
        "task above took #{format('%.2f', pg['store_batches_per_task'])} store transactions."
    end

    def sql_readiness_section
      if sql_skipped?
        return <<~MD
          ### Readiness: SQL function against the Rust resolver

          **SKIPPED: #{sql_bench['skip_reason']}.** Nothing was measured; run
          `cargo bench -p tasker-state --bench sql_readiness` with PostgreSQL reachable
          (`TASKER_BENCH_DATABASE_URL`).
        MD
      end

      s = sql_bench
      ns = ->(key) { dur(s[key] * 1e-9) }
      agreement = if s["same_ready_set"] == 1 && s["mismatches"].zero?
                    "Both answers agree on every column of all #{num(s['steps'])} steps (#{num(s['ready'])} ready)."
                  else
                    "**The answers disagree: #{num(s['mismatches'])} differing columns; ready sets " \
                      "#{s['same_ready_set'] == 1 ? 'equal' : 'different'}** (details in target/bench/sql_readiness.log)."
                  end
      <<~MD
        ### Readiness: SQL function against the Rust resolver

        `crates/state/benches/sql_readiness.rs`. A fresh schema; `PostgresStore::open` creates the
        tables and `install_readiness_function` adds `tasker_core_step_readiness`. A #{num(s['steps'])}-step
        layered DAG (the shape and seed of the Rust readiness bench: layers of #{s['layer_width']}, 1 to
        #{s['max_parents']} parents) is registered and one task of it is written through
        `Store::apply` (#{num(s['changes'])} changes in one transaction, #{dur(s['apply_ms'] * 1e-3)}),
        caught mid-run by the transitions the engine writes: #{num(s['complete'])} steps complete,
        #{num(s['in_progress'])} in progress, #{num(s['error'])} in error (#{num(s['exhausted'])} at their retry
        limit), #{num(s['pending'])} pending (#{num(s['pending_backing_off'])} behind a requested backoff);
        #{num(s['transitions'])} step transitions in all; then `ANALYZE`. The task is read back with
        `Store::task` and turned into one `StepSnapshot` per step, and both sides are asked at the same
        instant. #{agreement}

        Then #{num(s['samples'])} rounds, each one SQL call on one connection (prepared statement, all rows
        fetched and decoded) followed by one sample of #{num(s['rust_calls_per_sample'])} `evaluate_into`
        calls, after a warm-up of both.

        | Readiness of the whole task | Median | p10 | p90 | Best |
        | --- | --- | --- | --- | --- |
        | `SELECT * FROM tasker_core_step_readiness($1, $2)` | #{ns.('sql_median_ns')} | #{ns.('sql_p10_ns')} | #{ns.('sql_p90_ns')} | #{ns.('sql_min_ns')} |
        | `readiness::evaluate_into` (per call) | #{ns.('rust_median_ns')} | #{ns.('rust_p10_ns')} | #{ns.('rust_p90_ns')} | #{ns.('rust_min_ns')} |

        The Rust resolver is #{format('%.0f', s['speedup_median'])}× faster (ratio of the medians).
        Context, #{num(s['context_calls'])} calls each, medians: the server's own execution time of the
        same call by `EXPLAIN (ANALYZE, TIMING OFF)` is #{ns.('server_median_ns')} (instrumented, so an
        upper bound); a `SELECT 1` round trip #{ns.('select1_median_ns')}; a one-row INSERT committed on its
        own #{ns.('commit_median_ns')}.
      MD
    end

    def durable_method_lines
      <<~MD.chomp
        - **Durable throughput and latency**: `benches/durable_throughput.rb` and
          `benches/durable_latency.rb`, wall clock around submit → `native.wait_for_task`; stores
          from `benches/support/durable_stores.rb` (a fresh SQLite file or PostgreSQL schema per
          engine, removed at the end; PostgreSQL from `TASKER_BENCH_DATABASE_URL`, else the local
          `test` database, and skipped with a `SKIPPED:` line when it does not answer).
        - **SQL readiness against Rust**: `crates/state/benches/sql_readiness.rs`, its own timing
          loop (`Instant` around each SQL call and each batch of Rust calls); it prints one
          `sql-readiness-bench:` line, which this document reads from `target/bench/sql_readiness.log`.
      MD
    end
  end
end
