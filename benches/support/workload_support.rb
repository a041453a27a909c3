# frozen_string_literal: true

module Bench
  # Statistics shared by benches/workload.rb and its Sidekiq baseline.
  module WorkloadSupport
    module_function

    # Nearest-rank percentiles of latency samples (seconds).
    # @return [Hash]
    def latency_summary(values)
      sorted = values.sort
      rank = ->(q) { sorted[[(q * sorted.size).ceil - 1, 0].max] }
      { "p50" => rank.(0.50), "p90" => rank.(0.90), "p99" => rank.(0.99), "min" => sorted.first,
        "max" => sorted.last, "mean" => sorted.sum / sorted.size }
    end

    # The 1, 5 and 15 minute load averages (the machine is shared: other work shows in the numbers).
    # @return [Array<Float>, nil]
    def load_average
      File.read("/proc/loadavg").split.first(3).map(&:to_f)
    rescue SystemCallError
      nil
    end
  end
end

module Bench
  # Work the PostgreSQL server did for a measurement, from `pg_stat_database` of the bench's
  # database: transactions committed (in autocommit every statement is one), rows the
  # statements read (`tup_returned`: a sequential scan shows up here as every row of the
  # table) and buffer pages touched; per task. Needs nobody else working in that database
  # (TASKER_BENCH_DATABASE_URL names one of the bench's own). pg_stat_statements is not
  # assumed (it needs shared_preload_libraries). For SQLite and `memory:` a counter that
  # reports nothing.
  class ServerCounter
    COLUMNS = %w[xact_commit xact_rollback tup_returned tup_fetched tup_inserted tup_updated tup_deleted
                 blks_hit blks_read].freeze
    # A backend publishes its counts at most once a second (PGSTAT_MIN_INTERVAL), when idle.
    PUBLISH_DELAY = 1.1

    # @return [ServerCounter, NullCounter]
    def self.for(url)
      url.start_with?("postgres") ? new(url) : NullCounter.new
    end

    # Medians of the per-task figures of several runs.
    def self.median_per_task(runs)
      keys = runs.first.keys.grep(/\Aserver_.*_per_task\z/)
      medians = keys.to_h { |k| [k, Bench.median(runs.map { |r| r[k] })] }
      runs.first.key?("server_scans") ? medians.merge("server_scans" => runs.map { |r| r["server_scans"] }) : medians
    end

    def initialize(url)
      require "pg"
      # The URL's search_path option is irrelevant here: pg_stat_database is global.
      @conn = PG.connect(url.sub(/[?&]options=[^&]*/, ""))
      @database = @conn.exec("SELECT current_database()").getvalue(0, 0)
      # The store's schema (the URL's search_path), for the per-table scan counts.
      @schema = url[/search_path%3D([A-Za-z0-9_]+)/, 1] || "public"
    end

    # @return [Hash] the counters now (after the backends published theirs)
    def snapshot
      sleep PUBLISH_DELAY
      @conn.exec("SELECT pg_stat_clear_snapshot()")
      row = @conn.exec_params("SELECT #{COLUMNS.join(', ')} FROM pg_stat_database WHERE datname = $1", [@database])[0]
      tables = @conn.exec_params(<<~SQL, [@schema]).to_a
        SELECT relname, seq_scan, seq_tup_read, COALESCE(idx_scan, 0) AS idx_scan
        FROM pg_stat_user_tables WHERE schemaname = $1 AND relname LIKE 'tasker%'
      SQL
      row.transform_values(&:to_i).merge("tables" => tables.to_h { |t| [t["relname"], t.except("relname").transform_values(&:to_i)] })
    end

    # @return [Hash] "server_<column>_per_task" => Float since `before`, and "server_scans":
    #   table => sequential scans, rows they read, index scans (totals, tables with any)
    def per_task(before, tasks)
      now = snapshot
      scans = now["tables"].filter_map do |table, n|
        was = before["tables"].fetch(table, Hash.new(0))
        delta = n.to_h { |k, v| [k, v - was[k]] }
        [table, delta] if delta.values.any?(&:positive?)
      end
      COLUMNS.to_h { |c| ["server_#{c}_per_task", (now[c] - before[c]).fdiv(tasks)] }
             .merge("server_scans" => scans.to_h)
    end

    def description = "pg_stat_database of #{@database}"

    def close = @conn&.close
  end

  # {ServerCounter} for stores that have no server.
  class NullCounter
    def snapshot = nil

    def per_task(_before, _tasks) = {}

    def description = nil

    def close = nil
  end
end
