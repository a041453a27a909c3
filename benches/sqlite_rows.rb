# frozen_string_literal: true

# Issue 15's rows with no engine, on a SQLite file you give: TASKS finished 4-step chain tasks
# written with the statements of crates/state/benches/ceiling.rs (its SQLite part), the file
# opened with the store's pragmas, one task at a time in two transactions (create, finish) as
# the one-at-a-time measurement commits, or BATCH tasks per transaction pair. It separates
# what the schema and the file cost (B-tree depth, pages dirtied, reads) from what the engine
# adds: run it on a fresh store's file and on a copy of a filled one
# (`SQLITE_FILE=… ruby benches/chain_ab.rb` makes one) and compare the counts per task.
#
#   ruby benches/sqlite_rows.rb FILE            # TASKS (2,000), BATCH (1), MMAP (0 bytes),
#                                               # CACHE (-32768, the store's cache_size)
#
# It writes into FILE (give it a copy) and must not be pointed at a file an engine has open.
# The sqlite3 gem links Debian's libsqlite3, not the SQLite the store bundles: the counts
# compare files, not libraries.
require "sqlite3"

path = ARGV.fetch(0)
tasks = Integer(ENV.fetch("TASKS", "2000"))
batch = Integer(ENV.fetch("BATCH", "1"))
db = SQLite3::Database.new(path)
db.execute("PRAGMA journal_mode = WAL")
db.execute("PRAGMA synchronous = NORMAL")
db.execute("PRAGMA foreign_keys = ON")
db.execute("PRAGMA busy_timeout = 10000")
db.execute("PRAGMA cache_size = #{Integer(ENV.fetch('CACHE', '-32768'))}")
db.execute("PRAGMA mmap_size = #{Integer(ENV.fetch('MMAP', '0'))}")
db.execute("PRAGMA wal_autocheckpoint = 0") # every frame the run writes stays in the WAL, counted at the end

named_task, *named_steps = db.execute(<<~SQL).then { |rows| [rows[0][0], *rows.map { |r| r[1] }] }
  SELECT nts.named_task_id, s.named_step_id FROM tasker_named_tasks_named_steps nts
  JOIN tasker_named_steps s USING (named_step_id) JOIN tasker_named_tasks t USING (named_task_id)
  WHERE t.name = 'linear' ORDER BY s.name
SQL
# Ids after every id the file has used (the fill moves sqlite_sequence past its own).
last_id = lambda do |table, column|
  db.get_first_value("SELECT MAX(COALESCE((SELECT MAX(#{column}) FROM #{table}), 0), " \
                     "COALESCE((SELECT MAX(seq) FROM sqlite_sequence WHERE name = ?), 0))", [table])
end
task0 = last_id.call("tasker_tasks", "task_id")
step0 = last_id.call("tasker_workflow_steps", "workflow_step_id")

insert_task = db.prepare("INSERT INTO tasker_tasks (task_id, named_task_id, complete, requested_at, tags, " \
                         "context, identity_hash, created_at, updated_at) " \
                         "VALUES (?1, ?2, 0, ?3, '[]', '{}', ?4, ?3, ?3)")
insert_step = db.prepare("INSERT INTO tasker_workflow_steps (workflow_step_id, task_id, named_step_id, retryable, " \
                         "retry_limit, in_process, processed, attempts, skippable, created_at, updated_at) " \
                         "VALUES (?1, ?2, ?3, 1, 3, 0, 0, 0, 0, ?4, ?4)")
insert_edge = db.prepare("INSERT INTO tasker_workflow_step_edges (from_step_id, to_step_id, name, created_at, " \
                         "updated_at) VALUES (?1, ?2, 'provides', ?3, ?3)")
history = "(to_state, from_state, metadata, sort_key, most_recent, %s, created_at, updated_at) " \
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)"
insert_task_tr = db.prepare("INSERT INTO tasker_task_transitions #{format(history, 'task_id')}")
insert_step_tr = db.prepare("INSERT INTO tasker_workflow_step_transitions #{format(history, 'workflow_step_id')}")
flip_task = db.prepare("UPDATE tasker_task_transitions SET most_recent = 0, updated_at = ?2 " \
                       "WHERE task_id = ?1 AND most_recent")
update_step = db.prepare("UPDATE tasker_workflow_steps SET in_process = 0, processed = 1, processed_at = ?2, " \
                         "results = 'null', updated_at = ?2 WHERE workflow_step_id = ?1")
complete_task = db.prepare("UPDATE tasker_tasks SET complete = 1, updated_at = ?2 WHERE task_id = ?1")
now = -> { Time.now.utc.strftime("%Y-%m-%d %H:%M:%S.%6N") }
meta = ->(reason) { %({"actor":"engine","reason":"#{reason}"}) }

io = -> { File.read("/proc/self/io").lines.to_h { |l| k, v = l.split(":"); [k, v.to_i] } }
cpu = -> { Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) }
io0 = io.call
cpu0 = cpu.call
wall0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
(1..tasks).each_slice(batch) do |slice|
  db.transaction(:immediate) do
    slice.each do |i|
      t = now.call
      task = task0 + i
      insert_task.execute(task, named_task, t, format("%016x%048x", task, rand(1 << 128) >> 32))
      4.times do |k|
        step = step0 + (4 * (i - 1)) + k + 1
        insert_step.execute(step, task, named_steps[k], t)
        insert_edge.execute(step - 1, step, t) if k.positive?
      end
      insert_task_tr.execute("in_progress", "pending", meta.("start"), 1, 1, task, t)
    end
  end
  db.transaction(:immediate) do
    slice.each do |i|
      t = now.call
      task = task0 + i
      4.times do |k|
        step = step0 + (4 * (i - 1)) + k + 1
        insert_step_tr.execute("in_progress", "pending", meta.("handler_started"), 1, 0, step, t)
        insert_step_tr.execute("complete", "in_progress", meta.("handler_succeeded"), 2, 1, step, t)
        update_step.execute(step, t)
      end
      flip_task.execute(task, t)
      insert_task_tr.execute("complete", "in_progress", meta.("all_steps_complete"), 2, 1, task, t)
      complete_task.execute(task, t)
    end
  end
end
wall = Process.clock_gettime(Process::CLOCK_MONOTONIC) - wall0
cpu1 = cpu.call - cpu0
d = io.call.to_h { |k, v| [k, (v - io0[k]).fdiv(tasks)] }
frames = db.execute("PRAGMA wal_checkpoint(PASSIVE)").first[1].fdiv(tasks)
puts format("%s: %d tasks, %d a transaction pair: %.1f µs CPU, %.1f µs wall per task; per task %.1f reads " \
            "(%.0f bytes from disk), %.1f writes (%.0f bytes), %.1f WAL frames; load %s",
            path, tasks, batch, cpu1 * 1e6 / tasks, wall * 1e6 / tasks, d["syscr"], d["read_bytes"], d["syscw"],
            d["wchar"], frames, File.read("/proc/loadavg").split[0, 3].join(" "))
[insert_task, insert_step, insert_edge, insert_task_tr, insert_step_tr, flip_task, update_step, complete_task]
  .each(&:close)
db.close
