# frozen_string_literal: true

require "fileutils"

module Bench
  # Fills a store with finished 4-step chain tasks, fast, for issue 15's "after 1,000,000
  # tasks" measurements: one set-based `INSERT … SELECT` per table, the rows as the engine
  # writes them for a completed task of fixtures/templates/patterns/linear.yaml (columns,
  # JSON metadata, sort_keys, most_recent flags: crates/state/src/sql/*/write.rs), for a
  # template the engine registered before (its named task and named steps are looked up).
  #
  # - PostgreSQL (pg gem): one transaction with `synchronous_commit = off` (the fill's commit
  #   need not wait for the disk) and `session_replication_role = replica` (skips the
  #   foreign-key triggers: the rows are consistent by construction), `generate_series`; ids
  #   after the largest the tables or their sequences have used, and the sequences moved past
  #   the new ones, so the engine's next ids do not collide.
  # - SQLite (sqlite3 gem): one transaction, recursive CTEs, foreign keys off and
  #   `synchronous = OFF` for the fill's connection only; AUTOINCREMENT moves
  #   `sqlite_sequence` past the explicit ids, which is where the store reserves its ids from
  #   (crates/state/src/sql/sqlite/ids.rs).
  #
  # No ANALYZE afterwards, on purpose: the planner must work with statistics that do not know
  # the new rows (the server here runs with autovacuum off, as a busy production table often
  # behaves between autovacuum runs).
  #
  # No engine may have the store open during the fill.
  class WorkloadFill
    STEPS = 4
    # Finished tasks are spread over this many days before now.
    DAYS = 30

    # What the engine writes for a completed chain task, copied from its own rows (a task run
    # on each store and read back): [to_state, from_state, sort_key, most_recent, created_at
    # and updated_at as seconds after the task's creation (a flipped row's updated_at is its
    # flip), metadata as the SQLite store writes the text; PostgreSQL keeps it as jsonb].
    TASK_TRANSITIONS = [
      ["in_progress", "pending", 1, false, 0.0, 0.004, '{"actor":"engine","reason":"start"}'],
      ["complete", "in_progress", 2, true, 0.004, 0.004, '{"actor":"engine","reason":"all_steps_complete"}']
    ].freeze
    STEP_TRANSITIONS = [
      ["in_progress", "pending", 1, false, 0.001, 0.001, '{"actor":"engine","reason":"handler_started"}'],
      ["complete", "in_progress", 2, true, 0.002, 0.002,
       '{"actor":"engine","attempt":1,"duration_ms":0.05,"reason":"handler_succeeded"}']
    ].freeze

    TABLES = %w[tasker_tasks tasker_workflow_steps tasker_workflow_step_edges tasker_task_transitions
                tasker_workflow_step_transitions].freeze

    # @param url [String] the store's database_url
    def initialize(url)
      @url = url
    end

    # @param tasks [Integer]
    # @param template [String] the registered template's name
    # @param namespace [String]
    # @return [Hash] "seconds", "tasks", "rows" (table => rows written), "first_task_id"
    def fill(tasks, template:, namespace:)
      started = Bench.now
      rows = postgres? ? fill_postgres(tasks, template, namespace) : fill_sqlite(tasks, template, namespace)
      filled = Bench.now
      settle
      rows.merge("seconds" => filled - started, "settle_seconds" => Bench.now - filled, "tasks" => tasks)
    end

    # Deletes the SQLite file (and its WAL) now; a PostgreSQL schema is dropped by
    # DurableStores#cleanup.
    def drop
      return if postgres?

      FileUtils.rm_f(%w[-wal -shm -journal].map { |s| "#{sqlite_path}#{s}" } + [sqlite_path])
    end

    private

    # Puts the fill's writes on disk before any engine opens the store. The fill skips the
    # syncs a live app pays as it goes (`synchronous_commit = off`, `synchronous = OFF`), so
    # it leaves gigabytes of dirty pages behind: on SQLite the engine's first checkpoint then
    # synced them inside a measurement (2.47 s in one fsync, docs/benchmarks.md, branch
    # `grow`), and on PostgreSQL the checkpointer writes them out, and full-page images follow
    # every page's first change after it starts, while the engine is measured. A table grown
    # over weeks has long been written out; the fresh store has nothing to write. Timed
    # apart from the fill ("settle_seconds").
    #
    # PostgreSQL also sets the rows' hint bits first (a sequential read of each table marks
    # every row's inserting transaction committed on its page), so that the CHECKPOINT writes
    # those pages too. Without it the first reader of the fill's rows did: the engine's health
    # count at start dirtied every page of the tasks, steps and both transition tables (2.2 GB
    # at 1,000,000 tasks), which the server then wrote while the engine ran, on the disk its
    # WAL flushes wait for (docs/benchmarks.md, branch `growpg`). Rows of a table grown over weeks were
    # hinted by their first reader or by (auto)vacuum long ago. Nothing here changes the
    # planner's statistics (no ANALYZE, no VACUUM).
    def settle
      if postgres?
        conn = PG.connect(pg_url)
        conn.exec("CHECKPOINT") # the fill's commit is on disk: its rows can be hinted
        conn.exec("SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off; " \
                  "SET max_parallel_workers_per_gather = 0")
        TABLES.each { |table| conn.exec("SELECT count(*) FROM #{table}") }
        conn.exec("CHECKPOINT")
      else
        File.open(sqlite_path) { |f| f.fsync }
      end
    rescue PG::InsufficientPrivilege => e
      warn "workload fill: CHECKPOINT refused (#{e.message.strip}); the engine may meet the fill's dirty pages"
    ensure
      conn&.close
    end

    def postgres? = @url.start_with?("postgres")

    def sqlite_path = @url.delete_prefix("sqlite://").sub(/\?.*\z/, "")

    # --- PostgreSQL -----------------------------------------------------------------------

    def fill_postgres(tasks, template, namespace)
      require "pg"
      conn = PG.connect(pg_url)
      conn.exec("SET client_min_messages = warning")
      conn.transaction do |c|
        c.exec("SET LOCAL synchronous_commit = off")
        c.exec("SET LOCAL session_replication_role = replica")
        named_task, named_steps = pg_template(c, template, namespace)
        ids = pg_bases(c)
        counts = pg_statements(Integer(tasks), ids, named_task, named_steps).map { |sql| c.exec(sql).cmd_tuples }
        pg_sequences(c)
        { "first_task_id" => ids["tasks"] + 1, "rows" => TABLES.zip(counts).to_h }
      end
    ensure
      conn&.close
    end

    # The URL as libpq reads it: the `options=-c search_path=…` query parameter is one it knows.
    def pg_url = @url

    def pg_template(conn, template, namespace)
      named_task = conn.exec_params(<<~SQL, [template, namespace]).getvalue(0, 0)
        SELECT nt.named_task_id FROM tasker_named_tasks nt
        JOIN tasker_task_namespaces ns ON ns.task_namespace_id = nt.task_namespace_id
        WHERE nt.name = $1 AND ns.name = $2 ORDER BY nt.version DESC LIMIT 1
      SQL
      raise "fill: template #{namespace}/#{template} is not registered in #{@url}" unless named_task

      steps = conn.exec_params(<<~SQL, [named_task]).column_values(0)
        SELECT s.named_step_id FROM tasker_named_tasks_named_steps nts
        JOIN tasker_named_steps s ON s.named_step_id = nts.named_step_id
        WHERE nts.named_task_id = $1 ORDER BY s.name
      SQL
      raise "fill: #{template} has #{steps.size} named steps, expected #{STEPS}" unless steps.size == STEPS

      [Integer(named_task), steps.map { |s| Integer(s) }]
    end

    PG_ID_COLUMNS = {
      "tasks" => %w[tasker_tasks task_id], "steps" => %w[tasker_workflow_steps workflow_step_id],
      "edges" => %w[tasker_workflow_step_edges id], "task_transitions" => %w[tasker_task_transitions id],
      "step_transitions" => %w[tasker_workflow_step_transitions id]
    }.freeze

    # The largest id each table or its sequence has used (the engine takes ids in blocks).
    def pg_bases(conn)
      PG_ID_COLUMNS.transform_values do |(table, column)|
        sequence = conn.exec_params("SELECT pg_get_serial_sequence($1, $2)", [table, column]).getvalue(0, 0)
        sql = "SELECT GREATEST((SELECT COALESCE(max(#{column}), 0) FROM #{table}), " \
              "(SELECT last_value FROM #{sequence}))"
        Integer(conn.exec(sql).getvalue(0, 0))
      end
    end

    def pg_sequences(conn)
      PG_ID_COLUMNS.each_value do |(table, column)|
        conn.exec("SELECT setval(pg_get_serial_sequence('#{table}', '#{column}'), " \
                  "(SELECT max(#{column}) FROM #{table}))")
      end
    end

    # Task i (1..tasks) is created DAYS × (tasks − i) / tasks days before now; its id is
    # ids["tasks"] + i and its steps ids["steps"] + 4(i − 1) + 1 … + 4. Every value is an
    # Integer of this class's own, written into the SQL.
    def pg_statements(tasks, ids, named_task, named_steps)
      series = "generate_series(1, #{tasks}::bigint) i, " \
               "LATERAL (SELECT localtimestamp - (#{DAYS} * 86400.0 * (#{tasks} - i) / #{tasks}) * interval '1 second' AS c) x"
      task_id = "(#{ids['tasks']} + i)"
      step_id = "(#{ids['steps']} + #{STEPS} * (i - 1) + k + 1)"
      ms = ->(n) { "c + interval '#{n} milliseconds'" }
      [
        <<~SQL,
          INSERT INTO tasker_tasks (task_id, named_task_id, complete, requested_at, tags, context, identity_hash,
                                    created_at, updated_at)
          SELECT #{task_id}, #{named_task}, true, c, '[]'::jsonb, '{}'::jsonb,
                 lpad(to_hex(#{task_id}), 16, '0') || md5(i::text) || lpad(to_hex(#{tasks}), 16, '0'),
                 c, #{ms.(5)}
          FROM #{series}
        SQL
        <<~SQL,
          INSERT INTO tasker_workflow_steps (workflow_step_id, task_id, named_step_id, retryable, retry_limit,
                                             in_process, processed, processed_at, attempts, results,
                                             skippable, created_at, updated_at)
          SELECT #{step_id}, #{task_id}, (ARRAY[#{named_steps.join(', ')}])[k + 1], true, 3, false, true,
                 #{ms.(2)}, 0, 'null'::jsonb, false, c, #{ms.(2)}
          FROM #{series}, generate_series(0, #{STEPS - 1}) k
        SQL
        <<~SQL,
          INSERT INTO tasker_workflow_step_edges (id, from_step_id, to_step_id, name, created_at, updated_at)
          SELECT #{ids['edges']} + #{STEPS - 1} * (i - 1) + k + 1, #{step_id}, #{step_id} + 1, 'provides', c, c
          FROM #{series}, generate_series(0, #{STEPS - 2}) k
        SQL
        pg_transitions("tasker_task_transitions", "task_id", task_id,
                       "#{ids['task_transitions']} + #{TASK_TRANSITIONS.size} * (i - 1) + v.n + 1",
                       TASK_TRANSITIONS, "#{series}, (SELECT 0 AS k) kk"),
        pg_transitions("tasker_workflow_step_transitions", "workflow_step_id", step_id,
                       "#{ids['step_transitions']} + #{STEP_TRANSITIONS.size * STEPS} * (i - 1) + " \
                       "#{STEP_TRANSITIONS.size} * k + v.n + 1",
                       STEP_TRANSITIONS, "#{series}, generate_series(0, #{STEPS - 1}) k")
      ]
    end

    def pg_transitions(table, owner, owner_id, id, rows, from)
      values = rows.each_with_index.map do |(to, from_state, key, recent, off, updated, meta), n|
        "(#{n}, '#{to}', '#{from_state}', #{key}, #{recent}, #{off}, #{updated}, '#{meta}'::jsonb)"
      end
      <<~SQL
        INSERT INTO #{table} (id, to_state, from_state, metadata, sort_key, most_recent, #{owner}, created_at, updated_at)
        SELECT #{id}, v.to_state, v.from_state, v.metadata, v.sort_key, v.most_recent, #{owner_id},
               c + v.off * interval '1 second', c + v.updated * interval '1 second'
        FROM #{from}, (VALUES #{values.join(', ')}) v(n, to_state, from_state, sort_key, most_recent, off, updated, metadata)
      SQL
    end

    # --- SQLite ---------------------------------------------------------------------------

    def fill_sqlite(tasks, template, namespace)
      require "sqlite3"
      @now_micros = (Time.now.to_r * 1_000_000).to_i # one "now" for every timestamp of the fill
      db = SQLite3::Database.new(sqlite_path)
      db.busy_timeout = 10_000
      db.execute("PRAGMA foreign_keys = OFF")
      db.execute("PRAGMA synchronous = OFF")
      db.execute("PRAGMA cache_size = -262144")
      db.execute("PRAGMA temp_store = MEMORY")
      counts = nil
      first = nil
      db.transaction(:immediate) do
        named_task, named_steps = sqlite_template(db, template, namespace)
        bases = sqlite_bases(db)
        first = bases["tasks"] + 1
        counts = sqlite_statements(tasks, bases, named_task, named_steps).map do |sql|
          db.execute(sql)
          db.changes
        end
      end
      db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
      { "first_task_id" => first, "rows" => TABLES.zip(counts).to_h }
    ensure
      db&.close
    end

    def sqlite_template(db, template, namespace)
      named_task = db.get_first_value(<<~SQL, [template, namespace])
        SELECT nt.named_task_id FROM tasker_named_tasks nt
        JOIN tasker_task_namespaces ns ON ns.task_namespace_id = nt.task_namespace_id
        WHERE nt.name = ? AND ns.name = ? ORDER BY nt.version DESC LIMIT 1
      SQL
      raise "fill: template #{namespace}/#{template} is not registered in #{@url}" unless named_task

      steps = db.execute(<<~SQL, [named_task]).map(&:first)
        SELECT s.named_step_id FROM tasker_named_tasks_named_steps nts
        JOIN tasker_named_steps s ON s.named_step_id = nts.named_step_id
        WHERE nts.named_task_id = ? ORDER BY s.name
      SQL
      raise "fill: #{template} has #{steps.size} named steps, expected #{STEPS}" unless steps.size == STEPS

      [Integer(named_task), steps.map { |s| Integer(s) }]
    end

    SQLITE_ID_COLUMNS = PG_ID_COLUMNS

    def sqlite_bases(db)
      SQLITE_ID_COLUMNS.transform_values do |(table, column)|
        Integer(db.get_first_value(<<~SQL, [table]))
          SELECT MAX(COALESCE((SELECT MAX(#{column}) FROM #{table}), 0),
                     COALESCE((SELECT MAX(seq) FROM sqlite_sequence WHERE name = ?), 0))
        SQL
      end
    end

    # SQLite's DATETIME text as the store writes it ('YYYY-MM-DD HH:MM:SS.ffffff', UTC), of a
    # task created `expr` seconds before now plus `offset` seconds.
    def sqlite_time(seconds_ago, offset = 0.0)
      micros = "CAST(ROUND((#{offset} - (#{seconds_ago})) * 1000000) AS INTEGER) + #{@now_micros}"
      "strftime('%Y-%m-%d %H:%M:%S', (#{micros}) / 1000000, 'unixepoch') || '.' || " \
        "substr('000000' || ((#{micros}) % 1000000), -6)"
    end

    def sqlite_statements(tasks, bases, named_task, named_steps)
      series = "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < #{Integer(tasks)})"
      ago = "(#{DAYS} * 86400.0 * (#{tasks} - i) / #{tasks})"
      step_id = "(#{bases['steps']} + #{STEPS} * (i - 1) + k + 1)"
      ks = ->(n) { "(#{(0...n).map { |k| "SELECT #{k} AS k" }.join(' UNION ALL ')})" }
      step_names = "CASE k #{named_steps.each_with_index.map { |id, k| "WHEN #{k} THEN #{id}" }.join(' ')} END"
      [
        <<~SQL,
          #{series}
          INSERT INTO tasker_tasks (task_id, named_task_id, complete, requested_at, tags, context, identity_hash,
                                    created_at, updated_at)
          SELECT #{bases['tasks']} + i, #{named_task}, 1, #{sqlite_time(ago)}, '[]', '{}',
                 printf('%016x%016x%032x', #{bases['tasks']} + i, #{tasks}, i),
                 #{sqlite_time(ago)}, #{sqlite_time(ago, 0.005)}
          FROM s
        SQL
        <<~SQL,
          #{series}
          INSERT INTO tasker_workflow_steps (workflow_step_id, task_id, named_step_id, retryable, retry_limit,
                                             in_process, processed, processed_at, attempts, results,
                                             skippable, created_at, updated_at)
          SELECT #{step_id}, #{bases['tasks']} + i, #{step_names}, 1, 3, 0, 1, #{sqlite_time(ago, 0.002)}, 0,
                 'null', 0, #{sqlite_time(ago)}, #{sqlite_time(ago, 0.002)}
          FROM s, #{ks.(STEPS)}
        SQL
        <<~SQL,
          #{series}
          INSERT INTO tasker_workflow_step_edges (id, from_step_id, to_step_id, name, created_at, updated_at)
          SELECT #{bases['edges']} + #{STEPS - 1} * (i - 1) + k + 1, #{step_id}, #{step_id} + 1, 'provides',
                 #{sqlite_time(ago)}, #{sqlite_time(ago)}
          FROM s, #{ks.(STEPS - 1)}
        SQL
        sqlite_transitions("tasker_task_transitions", "task_id", "#{bases['tasks']} + i",
                           "#{bases['task_transitions']} + #{TASK_TRANSITIONS.size} * (i - 1) + v.n + 1",
                           TASK_TRANSITIONS, series, ago, "(SELECT 0 AS k)"),
        sqlite_transitions("tasker_workflow_step_transitions", "workflow_step_id", step_id,
                           "#{bases['step_transitions']} + #{STEP_TRANSITIONS.size * STEPS} * (i - 1) + " \
                           "#{STEP_TRANSITIONS.size} * k + v.n + 1",
                           STEP_TRANSITIONS, series, ago, ks.(STEPS))
      ]
    end

    def sqlite_transitions(table, owner, owner_id, id, rows, series, ago, ks)
      values = rows.each_with_index.map do |(to, from, key, recent, off, updated, meta), n|
        "SELECT #{n} AS n, '#{to}' AS to_state, '#{from}' AS from_state, #{key} AS sort_key, " \
          "#{recent ? 1 : 0} AS most_recent, #{off} AS off, #{updated} AS updated, '#{meta}' AS metadata"
      end
      <<~SQL
        #{series}
        INSERT INTO #{table} (id, to_state, from_state, metadata, sort_key, most_recent, #{owner}, created_at, updated_at)
        SELECT #{id}, v.to_state, v.from_state, v.metadata, v.sort_key, v.most_recent, #{owner_id},
               #{sqlite_time(ago, 'v.off')}, #{sqlite_time(ago, 'v.updated')}
        FROM s, #{ks}, (#{values.join(' UNION ALL ')}) v
      SQL
    end
  end
end
