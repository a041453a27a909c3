# frozen_string_literal: true

# Issue 8: Insights. The store's answers are checked field by field, on every store, by the
# Rust conformance tests (crates/state/tests, with controlled timestamps); here the Ruby
# API is checked against values worked out from the tasks' own stored histories, and the
# live counters against the store's counts after random workflow runs.
RSpec.describe "Insights" do

  let(:dir) { Dir.mktmpdir("tasker-insights") }
  # A store of its own: the counts cover every task in it.
  let(:url) do
    SpecStore::KIND == "postgres" ? SpecStore.isolated_url("insights", dir) : "sqlite://#{File.join(dir, 'insights.sqlite3')}"
  end
  let(:engine) { start_engine(database_url: url) }

  FIELDS_BOTH_COUNT = TaskerCore::Insights::SystemHealthCounts::FIELDS -
                      %i[in_backoff_steps active_connections max_connections]

  def health_pair(engine)
    engine.flush
    [TaskerCore::Insights::SystemHealthCounts.current(engine: engine),
     TaskerCore::Insights::SystemHealthCounts.from_store(engine: engine)]
  end

  def expect_live_to_match_store(engine)
    live, stored = health_pair(engine)
    FIELDS_BOTH_COUNT.each do |f|
      expect(live.public_send(f)).to eq(stored.public_send(f)), "#{f}: live #{live.public_send(f)}, stored #{stored.public_send(f)}"
    end
    live
  end

  # A random DAG of `n` steps whose handlers succeed, fail then succeed, fail for good, or
  # fail permanently.
  def random_template(rng, name, n)
    handlers = %w[Fixtures::NoopHandler Fixtures::NoopHandler Fixtures::NoopHandler Fixtures::FlakyHandler
                  Fixtures::AlwaysFailsHandler Fixtures::PermanentFailureHandler]
    lines = ["name: #{name}", "namespace_name: insights", "step_templates:"]
    n.times do |i|
      lines << "  - name: s#{i}" << "    handler_class: #{handlers.sample(random: rng)}"
      lines << "    default_retry_limit: #{rng.rand(1..3)}"
      parents = (0...i).to_a.sample(rng.rand(0..[i, 2].min), random: rng)
      lines << "    depends_on_steps: [#{parents.map { |p| "s#{p}" }.join(', ')}]" if parents.any?
    end
    "#{lines.join("\n")}\n"
  end

  it "keeps the live health counts equal to the store's after random runs, and after a restart" do
    seed = Integer(ENV.fetch("INSIGHTS_SEED", Random.new_seed % 100_000))
    rng = Random.new(seed)
    6.times do |round|
      name = "random_#{round}"
      engine.register_template(random_template(rng, name, rng.rand(2..8)), source: "#{name}.yaml")
      ids = Array.new(rng.rand(1..4)) { engine.submit_task(name, { "fail_times" => 1 }, namespace: "insights") }
      ids.each { |id| engine.wait_for_task(id, timeout: 30) }
      expect_live_to_match_store(engine)
    end
    # Manual operations move counts too: retry a failed task, cancel a created one.
    failed = engine.wait_for_task(engine.submit_task("random_0", { "fail_times" => 1 }, namespace: "insights"), timeout: 30)
    engine.task(failed.task_id).retry!(reason: "spec") if failed.status == :error
    engine.task(engine.create_task("random_1", {}, namespace: "insights", durable: true)).cancel!(reason: "spec")
    live = expect_live_to_match_store(engine)
    expect(live.total_tasks).to be > 6

    engine.close
    restarted = start_engine(database_url: url)
    expect_live_to_match_store(restarted)
  rescue RSpec::Expectations::ExpectationNotMetError => e
    raise e.exception("#{e.message}\n(INSIGHTS_SEED=#{seed} reproduces this run)")
  end

  it "adds tasks_in_progress, steps_pending and the load of the pools" do
    live = TaskerCore::Insights::SystemHealthCounts.current(engine: engine)
    expect(live.capacity).to eq(4) # start_engine's 4 worker threads
    expect(live.steps_in_flight).to eq(0)
    expect(live.system_load_percentage).to eq(0.0)
    expect(live.tasks_in_progress).to eq(live.in_progress_tasks)
    expect(live.steps_pending).to eq(live.pending_steps)
    expect(live.active_connections).to be_nil
    stored = TaskerCore::Insights::SystemHealthCounts.from_store(engine: engine)
    if SpecStore.postgres?
      expect(stored.active_connections).to be >= 1
      expect(stored.max_connections).to be >= stored.active_connections
    else
      expect(stored.active_connections).to be_nil
    end
  end

  context "after a few fixture runs" do
    before do
      @started = Time.now
      @ids = [engine.submit_task("linear", {}, namespace: "fixtures"),
              engine.submit_task("diamond", {}, namespace: "fixtures"),
              engine.submit_task("fulfil_order", { "order_id" => rand(1..1_000_000), "items" => [{ "sku" => "A", "quantity" => 1 }] },
                                 namespace: "shop")]
      @ids.each { |id| engine.wait_for_task(id, timeout: 30) }
      engine.flush
      @tasks = @ids.map { |id| engine.task(id) }
    end

    # When a row finished: its latest transition to complete or error.
    def finished_at(row) = row.state_transitions.reverse.find { |t| %w[complete error].include?(t.to_state) }.created_at

    def seconds(from, to) = ((to.to_r - from.to_r) * 1_000_000).round / 1_000_000.0

    it "reports analytics worked out from the tasks' histories" do
      m = TaskerCore::Insights::AnalyticsMetrics.current(since: @started - 1, engine: engine)
      completed = @tasks.select(&:complete?)
      expect(completed.size).to eq(3)
      expect(m.task_throughput).to eq(3)
      expect(m.completion_count).to eq(3)
      expect(m.error_count).to eq(0)
      expect(m.system_health_score).to eq(1.0)
      expect(m.completion_rate).to eq(1.0)
      expect(m.active_tasks_count).to eq(0)
      expect(m.total_namespaces_count).to eq(2) # fixtures, shop
      expect(m.unique_task_types_count).to eq(3)
      durations = completed.map { |t| seconds(t.created_at, finished_at(t)) }
      expect(m.avg_task_duration).to be_within(1e-6).of(durations.sum / durations.size)
      steps = @tasks.flat_map { |t| t.steps.to_a }
      expect(m.step_throughput).to eq(steps.size)
      step_durations = steps.map { |s| seconds(s.created_at, finished_at(s)) }
      expect(m.avg_step_duration).to be_within(1e-6).of(step_durations.sum / step_durations.size)
      expect(m.analysis_period_start).to be_within(1e-5).of(@started - 1)
      expect(m.calculated_at).to be >= @started
    end

    it "lists the slowest steps and tasks, longest first, with their groups' averages" do
      steps = @tasks.flat_map { |t| t.steps.map { |s| [t, s] } }
      expected = steps.map { |t, s| [s.step_id, seconds(s.created_at, finished_at(s)), t, s] }
                      .sort_by { |id, d, _, _| [-d, id] }
      rows = TaskerCore::Insights::SlowestSteps.query(engine: engine) { |q| q.limit = 5 }
      expect(rows.map(&:workflow_step_id)).to eq(expected.first(5).map(&:first))
      rows.zip(expected).each do |row, (id, duration, task, step)|
        expect(row.duration_seconds).to be_within(1e-6).of(duration)
        expect(row.step_name).to eq(step.name)
        expect(row.task_id).to eq(task.task_id)
        expect(row.task_name).to eq(task.name)
        expect(row.namespace_name).to eq(task.namespace)
        expect(row.completed_at).to be_within(1e-5).of(finished_at(step))
        expect(row.step_status).to eq("complete")
        same = steps.select { |t, s| t.namespace == task.namespace && t.name == task.name && s.name == step.name }
        expect(row.execution_count).to eq(same.size)
        avg = same.sum { |_, s| seconds(s.created_at, finished_at(s)) } / same.size * 1000
        expect(row.avg_duration_ms).to be_within(1e-3).of(avg), "step #{id}"
      end

      shop = TaskerCore::Insights::SlowestSteps.query(engine: engine) { |q| q.namespace = "shop" }
      expect(shop.map(&:namespace_name).uniq).to eq(["shop"])
      expect(shop.size).to eq(4)
      shop_task = @tasks.find { |t| t.namespace == "shop" }
      shop.each do |row|
        failures = shop_task.steps.find_by(step_id: row.workflow_step_id).state_transitions.count { |t| t.to_state == "error" }
        expect(row.attempts).to eq(failures) # the stored column: failed attempts (0, as Tasker writes it, before any)
      end

      tasks = TaskerCore::Insights::SlowestTasks.query(engine: engine)
      expected_tasks = @tasks.map { |t| [t.task_id, seconds(t.created_at, finished_at(t))] }.sort_by { |id, d| [-d, id] }
      expect(tasks.map(&:task_id)).to eq(expected_tasks.map(&:first))
      tasks.each do |row|
        task = @tasks.find { |t| t.task_id == row.task_id }
        expect(row.step_count).to eq(task.steps.size)
        expect(row.completed_steps).to eq(task.steps.count(&:complete?))
        expect(row.error_steps).to eq(0)
      end
      expect(TaskerCore::Insights::SlowestTasks.query(engine: engine) { |q| q.task_name = "linear" }.map(&:task_name))
        .to eq(["linear"])
      expect(TaskerCore::Insights::SlowestSteps.query(engine: engine) { |q| q.time_range = 0.000001 }).to eq([])
    end

    it "refuses a bad query, naming the setting" do
      expect { TaskerCore::Insights::SlowestSteps.query(engine: engine) { |q| q.limit = -1 } }
        .to raise_error(TaskerCore::ValidationError, /limit/)
      expect { TaskerCore::Insights::SlowestTasks.query(engine: engine) { |q| q.time_range = "a day" } }
        .to raise_error(TaskerCore::ValidationError, /time_range/)
      expect { TaskerCore::Insights::AnalyticsMetrics.current(since: "yesterday", engine: engine) }
        .to raise_error(TaskerCore::ValidationError, /since/)
    end
  end
end
