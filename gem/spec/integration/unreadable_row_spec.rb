# frozen_string_literal: true

require "json"
require "logger"
require "stringio"
require "timeout"

# A task whose stored rows the engine cannot read back (here a context nested deeper than
# the JSON reader takes, as tasker-core before the 100-level limit could store, or another
# tool could write) is skipped by recovery, named with why, and the other unfinished tasks
# resume. It used to fail the whole recovery, so `Engine.start` raised and no task resumed.
module UnreadableRowSpec
  # Finishes at once.
  class Done < TaskerCore::BaseStepHandler
    def process(_context) = { "ok" => true }
  end

  TEMPLATE = "name: unreadable_row\nstep_templates:\n  - { name: a, handler_class: UnreadableRowSpec::Done }\n"

  # Replaces the stored context of `task_id` with JSON nested 130 levels.
  def self.store_deep_context(url, task_id)
    deep = { "v" => 1 }
    129.times { deep = { "a" => deep } }
    text = JSON.generate(deep, max_nesting: false)
    if url.start_with?("sqlite:")
      sqlite(url) { |db| db.execute("UPDATE tasker_tasks SET context = ? WHERE task_id = ?", [text, task_id]) }
    else
      psql(url, "UPDATE tasker_tasks SET context = '#{text}'::jsonb WHERE task_id = #{Integer(task_id)}")
    end
  end

  # Stores bytes that are not UTF-8 in the initiator of `task_id` (SQLite; PostgreSQL
  # refuses them itself).
  def self.store_binary_initiator(url, task_id)
    sqlite(url) { |db| db.execute("UPDATE tasker_tasks SET initiator = CAST(X'FF' AS BLOB) WHERE task_id = ?", [task_id]) }
  end

  def self.sqlite(url)
    require "sqlite3"
    db = SQLite3::Database.new(url.delete_prefix("sqlite://"))
    yield db
  ensure
    db&.close
  end

  def self.psql(url, sql)
    ok = system("psql", url, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql, out: File::NULL)
    raise "psql failed: #{sql}" unless ok
  end
end

RSpec.describe "Recovering a store holding a task whose rows cannot be read" do
  # Leaves `count` unfinished tasks (finished ones with `finish:`) in a store of its own (named
  # `name`), damages one with `damage.call(url, ids)`, and returns [the recovering engine,
  # what it logged, its report, ids].
  def recover_after(name, count, damage, finish: false)
    url = SpecStore.isolated_url(name, Dir.mktmpdir("tasker-spec"))
    first = engine_with_template(UnreadableRowSpec::TEMPLATE, source: "unreadable_row", database_url: url,
                                                              workers: finish ? 1 : 0)
    ids = Array.new(count) { first.submit_task("unreadable_row", { "n" => 1 }) }
    ids.each { |id| expect(first.wait_for_task(id, timeout: 30)).to be_complete } if finish
    first.flush
    first.close(timeout: 5)
    damage.call(url, ids)

    logged = StringIO.new
    engine = start_engine(templates: nil, workers: 1, database_url: url, logger: Logger.new(logged))
    engine.register_template(UnreadableRowSpec::TEMPLATE, source: "unreadable_row")
    [engine, logged, engine.recover, ids]
  end

  it "resumes the other tasks and names the one it skipped" do
    skip "memory: has no store to recover from" if SpecStore::KIND == "memory"
    engine, logged, report, ids =
      recover_after("unreadable_row", 3, ->(url, ids) { UnreadableRowSpec.store_deep_context(url, ids[1]) })
    expect(report[:task_ids]).to contain_exactly(ids[0], ids[2])
    expect(report[:skipped].map(&:first)).to eq([ids[1]])
    expect(report[:skipped].first.last).to match(/its stored rows cannot be read: .*unreadable JSON/)
    expect(logged.string).to include("task #{ids[1]} was not resumed")
    expect(engine.wait_for_task(ids[0], timeout: 30)).to be_complete
    expect(engine.wait_for_task(ids[2], timeout: 30)).to be_complete
    expect { engine.task(ids[1]) }.to raise_error(TaskerCore::UnreadableRowError, /task #{ids[1]}.*unreadable JSON/)
  end

  it "skips a task one of whose columns does not decode" do
    skip "SQLite only: PostgreSQL refuses such bytes itself" unless SpecStore::KIND == "sqlite"
    engine, _logged, report, ids =
      recover_after("unreadable_column", 2, ->(url, ids) { UnreadableRowSpec.store_binary_initiator(url, ids[0]) })
    expect(report[:task_ids]).to eq([ids[1]])
    expect(report[:skipped].map(&:first)).to eq([ids[0]])
    expect(engine.wait_for_task(ids[1], timeout: 30)).to be_complete
  end

  it "leaves it in place when retention exports, and exports and deletes the others" do
    skip "memory: has no store to damage" if SpecStore::KIND == "memory"
    # The oldest expired task is the damaged one, and a batch holds one task: the export used
    # to raise on it at every run, deleting nothing.
    engine, logged, _report, ids = recover_after("unreadable_export", 4, lambda { |url, ids|
      UnreadableRowSpec.store_deep_context(url, ids[0])
    }, finish: true)
    batches = []
    totals = Timeout.timeout(60) do
      engine.cleanup(older_than: 0, batch_size: 1, export: ->(tasks) { batches << tasks.map(&:task_id) })
    end
    expect(batches.flatten).to contain_exactly(*ids[1..])
    expect(batches).to all(be_any) # the hook never gets an empty batch
    expect(totals).to include(deleted_tasks: 3, exported_tasks: 3)
    expect(logged.string).to include("task #{ids[0]} was neither exported nor deleted")
    expect { engine.task(ids[0]) }.to raise_error(TaskerCore::UnreadableRowError)
    expect(engine.tasks(limit: 10).map { |t| t["task_id"] }).to eq([ids[0]])
  end
end
