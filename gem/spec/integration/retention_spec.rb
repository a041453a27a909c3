# frozen_string_literal: true

# Issue 17, item 6: retention deletes the finished tasks (complete, cancelled,
# resolved_manually) older than an age, with all their rows, and nothing else; the engine
# forgets them too (a result read back raises, as for an unknown id), counts them in
# Insights, and keeps its live health counts equal to what the store holds. The row-level
# check (every table, annotations and claims included) is crates/state/tests/retention.rs.
require "fileutils"

RSpec.describe "Retention" do
  # Holds its step until the spec lets it go: a task that stays unfinished however old.
  class RetentionGateHandler < TaskerCore::BaseStepHandler
    GATE = Queue.new
    def process(_context) = GATE.pop
  end

  let(:dir) { Dir.mktmpdir("tasker-retention") }
  let(:url) { SpecStore::KIND == "memory" ? "memory:" : SpecStore.isolated_url("retention", dir) }

  after do
    RetentionGateHandler::GATE.push(:go) while RetentionGateHandler::GATE.num_waiting.positive?
    stop_engines
    FileUtils.rm_rf(dir)
  end

  def register(engine)
    engine.register_template(<<~YAML, source: "retention.yaml")
      name: retention_pair
      step_templates:
        - { name: first, handler_class: Fixtures::NoopHandler }
        - { name: second, handler_class: Fixtures::NoopHandler, depends_on_step: first }
    YAML
    engine.register_template(<<~YAML, source: "retention_fails.yaml")
      name: retention_fails
      step_templates:
        - { name: only, handler_class: Fixtures::PermanentFailureHandler }
    YAML
    engine.register_template(<<~YAML, source: "retention_held.yaml")
      name: retention_held
      step_templates:
        - { name: held, handler_class: RetentionGateHandler }
    YAML
  end

  def finished(engine, name, count)
    ids = Array.new(count) { |i| engine.submit_task(name, { "i" => i }) }
    ids.each { |id| engine.wait_for_task(id, timeout: 20) }
    ids
  end

  # What the store holds (a query) and what the live counters say, as comparable numbers.
  def counts(engine)
    stored = TaskerCore::Insights::SystemHealthCounts.from_store(engine: engine)
    live = TaskerCore::Insights::SystemHealthCounts.current(engine: engine)
    fields = %i[total_tasks complete_tasks error_tasks cancelled_tasks total_steps complete_steps error_steps]
    [fields.map { |f| stored.public_send(f) }, fields.map { |f| live.public_send(f) }]
  end

  it "deletes exactly the expired finished tasks and forgets them; unfinished, failed and recent ones stay" do
    engine = start_engine(templates: nil, workers: 2, database_url: url)
    register(engine)
    old = finished(engine, "retention_pair", 6)
    cancelled = old.pop
    engine.task(cancelled).cancel!(reason: "retention spec") # complete -> cancelled, still expired
    failed = finished(engine, "retention_fails", 2)
    held = engine.submit_task("retention_held", {})
    sleep 1.5
    recent = finished(engine, "retention_pair", 3)
    expect(engine.task_state(held)).to eq("in_progress")

    deleted = engine.cleanup(older_than: 1.0, batch_size: 2)
    expect(deleted).to eq(deleted_tasks: 6, deleted_steps: 12)

    (old + [cancelled]).each do |id|
      expect(engine.task_state(id)).to be_nil
      expect { engine.task_result(id) }.to raise_error(TaskerCore::ValidationError, /task #{id}/)
      expect { engine.wait_for_task(id, timeout: 1) }.to raise_error(TaskerCore::ValidationError, /no such task/)
    end
    expect(recent.map { |id| engine.task_result(id).state }).to all(eq("complete"))
    expect(failed.map { |id| engine.task_state(id) }).to all(eq("error"))
    expect(engine.task_state(held)).to eq("in_progress")

    stored, live = counts(engine)
    expect(stored).to eq(live)
    expect(stored.first).to eq(3 + 2 + 1) # recent, failed, held

    stats = TaskerCore::Insights::Retention.current(engine: engine)
    expect(stats.deleted_tasks).to eq(6)
    expect(stats.deleted_steps).to eq(12)
    expect(stats.last_run_tasks).to eq(6)
    expect(stats.last_run_at).to be_within(60).of(Time.now.utc)
    expect(stats.enabled).to be(false)
    expect(engine.cleanup(older_than: 1.0)).to eq(deleted_tasks: 0, deleted_steps: 0)
    expect(engine.metrics_text).to include("tasker_core_retention_deleted_tasks_total 6\n",
                                           "tasker_core_retention_deleted_steps_total 12\n",
                                           "tasker_core_retention_runs_total 2\n")

    RetentionGateHandler::GATE.push(:go)
    expect(engine.wait_for_task(held, timeout: 10).state).to eq("complete")
  end

  it "runs by itself on the engine's thread when started with retention:" do
    engine = start_engine(templates: nil, workers: 2, database_url: url,
                          retention: 0.3, retention_interval: 0.1, retention_batch: 7)
    register(engine)
    ids = finished(engine, "retention_pair", 20)
    deadline = monotonic + 15
    sleep 0.05 until engine.retention_stats[:deleted_tasks] >= 20 || monotonic > deadline
    expect(engine.retention_stats).to include(enabled: true, retention_seconds: 0.3, interval_seconds: 0.1,
                                              batch_size: 7, deleted_tasks: 20, deleted_steps: 40,
                                              last_error: nil)
    expect(ids.map { |id| engine.task_state(id) }).to all(be_nil)
    stored, live = counts(engine)
    expect(stored).to eq(live)
    expect(stored.first).to eq(0)
    # A second start is refused and leaves the running thread's settings as they are (an
    # exporter checks them before it starts beside the native thread).
    expect { engine.native.start_retention(5.0, nil, nil) }
      .to raise_error(TaskerCore::OrchestrationError, /already runs retention/)
    expect(engine.retention_stats).to include(enabled: true, retention_seconds: 0.3, batch_size: 7)
  end

  it "keeps a memory: store flat over a long run (a small version of benches/retention_memory.rb)" do
    engine = start_engine(templates: nil, workers: 4, database_url: "memory:",
                          retention: 0.2, retention_interval: 0.05)
    register(engine)
    peak = 0
    10.times do
      finished(engine, "retention_pair", 500)
      peak = [peak, TaskerCore::Insights::SystemHealthCounts.current(engine: engine).total_tasks].max
      sleep 0.35 # the round expires (0.2 s) and a run (every 0.05 s) deletes it
    end
    # 5,000 tasks ran; what is held at any time is the round running and at most the one
    # before, not everything.
    expect(peak).to be <= 1_000
    expect(engine.retention_stats[:deleted_tasks]).to be >= 4_500
  end

  it "refuses bad settings by name and changes nothing" do
    expect { start_engine(database_url: url, retention: -1) }
      .to raise_error(TaskerCore::ValidationError, /retention: expected a non-negative number/)
    expect { start_engine(database_url: url, retention: 10, retention_interval: 0) }
      .to raise_error(TaskerCore::ValidationError, /retention_interval: expected a positive number/)
    expect { start_engine(database_url: url, retention: 10, retention_batch: 0) }
      .to raise_error(TaskerCore::ValidationError, /retention_batch: expected an Integer/)
    expect { start_engine(database_url: url, retention_interval: 5) }
      .to raise_error(TaskerCore::ValidationError, /need retention:/)

    engine = start_engine(templates: nil, workers: 2, database_url: url)
    register(engine)
    ids = finished(engine, "retention_pair", 2)
    expect { engine.cleanup(older_than: "a week") }.to raise_error(TaskerCore::ValidationError, /older_than/)
    expect { engine.cleanup(older_than: 0, batch_size: 0) }.to raise_error(TaskerCore::ValidationError, /batch_size/)
    expect(ids.map { |id| engine.task_state(id) }).to all(eq("complete"))
    expect(engine.retention_stats[:deleted_tasks]).to eq(0)
  end

  describe "with an export hook" do
    it "hands each batch to the hook as Tasks before deleting it, on the engine's schedule" do
      exported = Queue.new
      hook = ->(tasks) { exported << tasks.map { |t| [t.task_id, t.current_state, t.steps.size] } }
      engine = start_engine(templates: nil, workers: 2, database_url: url, retention: 0.3, retention_interval: 0.1,
                            retention_batch: 4, retention_export: hook)
      register(engine)
      ids = finished(engine, "retention_pair", 10)
      deadline = monotonic + 15
      sleep 0.05 until engine.retention_stats[:deleted_tasks] >= 10 || monotonic > deadline
      batches = Array.new(exported.size) { exported.pop }
      expect(batches.map(&:size)).to all(be <= 4)
      expect(batches.flatten(1)).to match_array(ids.map { |id| [id, "complete", 2] })
      expect(engine.retention_stats).to include(enabled: true, export: true, deleted_tasks: 10, deleted_steps: 20,
                                                batch_size: 4, last_error: nil)
      expect(ids.map { |id| engine.task_state(id) }).to all(be_nil)
    end

    it "deletes nothing of a batch whose hook raised, and offers it again" do
      calls = 0
      hook = lambda do |tasks|
        calls += 1
        raise IOError, "archive unreachable" if calls == 1

        tasks
      end
      engine = start_engine(templates: nil, workers: 2, database_url: url)
      register(engine)
      ids = finished(engine, "retention_pair", 3)
      expect { engine.cleanup(older_than: 0, export: hook) }.to raise_error(IOError, /archive unreachable/)
      expect(ids.map { |id| engine.task_state(id) }).to all(eq("complete"))
      expect(engine.cleanup(older_than: 0, export: hook)).to eq(deleted_tasks: 3, deleted_steps: 6, exported_tasks: 3)
      expect(ids.map { |id| engine.task_state(id) }).to all(be_nil)
    end

    it "exports only tasks still expired: a task acted on meanwhile is not deleted" do
      engine = start_engine(templates: nil, workers: 2, database_url: url)
      register(engine)
      failed = finished(engine, "retention_fails", 1).first
      done = finished(engine, "retention_pair", 2)
      seen = []
      expect(engine.cleanup(older_than: 0, export: ->(tasks) { seen.concat(tasks.map(&:task_id)) }))
        .to eq(deleted_tasks: 2, deleted_steps: 4, exported_tasks: 2)
      expect(seen).to match_array(done)
      expect(engine.task_state(failed)).to eq("error")
    end

    it "refuses a hook that cannot be called, or one without retention:" do
      expect { start_engine(database_url: url, retention: 10, retention_export: "archive") }
        .to raise_error(TaskerCore::ValidationError, /retention_export: expected something that responds to #call/)
      expect { start_engine(database_url: url, retention_export: ->(_) {}) }
        .to raise_error(TaskerCore::ValidationError, /retention_export needs retention:/)
      engine = start_engine(templates: nil, workers: 0, database_url: url)
      expect { engine.cleanup(older_than: 0, export: 42) }.to raise_error(TaskerCore::ValidationError, /export:/)
    end
  end
end
