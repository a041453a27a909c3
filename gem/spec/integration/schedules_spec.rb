# frozen_string_literal: true

# Issue 17, item 5: a task submitted with `run_at:` / `delay:` is stored at once and starts
# no earlier than asked, also across a restart; a cron schedule submits each occurrence
# once, also with two engines on one PostgreSQL database. The schedule computation itself
# (5/6 fields, missed occurrences, catch_up) is unit-tested in
# crates/engine/src/engine/schedules.rs.
require "fileutils"

RSpec.describe "Schedules" do
  # Each handler run, as [task_id, wall-clock seconds when it began].
  module SchedulesSpec
    STARTS = Queue.new

    # Records when it runs.
    class StartHandler < TaskerCore::BaseStepHandler
      def process(context)
        SchedulesSpec::STARTS << [context.task_id, Time.now.to_f]
        { "ok" => true }
      end
    end

    TEMPLATE = <<~YAML
      name: scheduled_pair
      step_templates:
        - { name: first, handler_class: SchedulesSpec::StartHandler }
        - { name: second, handler_class: Fixtures::NoopHandler, depends_on_step: first }
    YAML
  end

  let(:dir) { Dir.mktmpdir("tasker-schedules") }
  let(:url) { SpecStore::KIND == "memory" ? "memory:" : SpecStore.isolated_url("schedules", dir) }
  let(:templates) { template_file(SchedulesSpec::TEMPLATE, "scheduled_pair.yaml") }

  before { SchedulesSpec::STARTS.clear }

  after do
    stop_engines
    FileUtils.rm_rf(dir)
  end

  # When each of `ids` began (its first step), waiting at most `seconds` for all of them.
  def start_times(ids, seconds: 20)
    found = {}
    found.store(*pop_within(SchedulesSpec::STARTS, seconds)) until (ids - found.keys).empty?
    found
  end

  it "stores a run_at task at once and starts it no earlier than asked; Tasker's backoff columns hold it" do
    engine = start_engine(templates: templates, workers: 2, database_url: url)
    run_at = Time.now + 1.5
    id = engine.submit_task("scheduled_pair", { "n" => 1 }, run_at: run_at, durable: true)
    expect(id).to be_a(Integer)
    root = engine.task(id).steps.find_by(name: "first")
    expect(root.current_state).to eq("pending")
    expect(root.attempts).to eq(0)
    due = root.last_attempted_at.to_f + root.backoff_request_seconds
    expect(due).to be_within(0.001).of(run_at.to_f)

    began = start_times([id])[id]
    expect(began).to be >= run_at.to_f
    expect(engine.wait_for_task(id, timeout: 20).state).to eq("complete")
  end

  it "starts a delayed task no earlier than its delay, and a plain task beside it at once" do
    engine = start_engine(templates: templates, workers: 2, database_url: url)
    submitted = Time.now.to_f
    delayed = engine.submit_task("scheduled_pair", { "n" => 2 }, delay: 1.2)
    plain = engine.submit_task("scheduled_pair", { "n" => 3 })
    expect(engine.wait_for_task(plain, timeout: 20).state).to eq("complete")
    expect(engine.task_state(delayed)).to eq("in_progress")
    began = start_times([plain, delayed])
    expect(began[delayed]).to be >= submitted + 1.2
    expect(engine.wait_for_task(delayed, timeout: 20).state).to eq("complete")
  end

  it "refuses run_at and delay misuse with a ValidationError, creating nothing" do
    engine = start_engine(templates: templates, workers: 0, database_url: url)
    before = engine.stats[:tasks_submitted]
    expect { engine.submit_task("scheduled_pair", {}, run_at: Time.now, delay: 1) }
      .to raise_error(TaskerCore::ValidationError, /run_at and delay/)
    expect { engine.submit_task("scheduled_pair", {}, delay: -1) }
      .to raise_error(TaskerCore::ValidationError, /delay: expected seconds/)
    expect { engine.submit_task("scheduled_pair", {}, delay: "soon") }
      .to raise_error(TaskerCore::ValidationError, /delay/)
    expect { engine.submit_task("scheduled_pair", {}, run_at: "tomorrow") }
      .to raise_error(TaskerCore::ValidationError, /run_at: expected a Time/)
    expect { engine.submit_once("scheduled_pair", {}, identity: { key: "k" }, run_at: 12) }
      .to raise_error(TaskerCore::ValidationError, /run_at: expected a Time/)
    expect { engine.create_task("scheduled_pair", {}, delay: Float::NAN) }
      .to raise_error(TaskerCore::ValidationError, /delay/)
    expect(engine.stats[:tasks_submitted]).to eq(before)
  end

  it "takes run_at on submit_once and create_task too" do
    engine = start_engine(templates: templates, workers: 2, database_url: url)
    run_at = Time.now + 1
    once = engine.submit_once("scheduled_pair", { "n" => 4 }, identity: { key: "schedules-spec-once" }, run_at: run_at)
    expect(engine.submit_once("scheduled_pair", { "n" => 4 }, identity: { key: "schedules-spec-once" }).created?).to be(false)
    created = engine.create_task("scheduled_pair", { "n" => 5 }, run_at: run_at)
    engine.native.start_task(created, false, nil, 5)
    began = start_times([once.task_id, created])
    expect(began.values).to all(be >= run_at.to_f)
  end

  it "passes run_at through a SubmitTaskJob's arguments" do
    require "tasker_core/submit_task_job"
    ActiveJob::Base.logger = Logger.new(nil)
    TaskerCore.start(templates: templates, workers: 2, database_url: url, recover: false, instrument: false)
    run_at = Time.now + 1
    job = TaskerCore::SubmitTaskJob.new("scheduled_pair", { "n" => 7 }, run_at: run_at)
    id = ActiveJob::Base.execute(job.serialize)
    root = TaskerCore.engine.task(id).steps.find_by(name: "first")
    expect(root.last_attempted_at.to_f + root.backoff_request_seconds).to be_within(0.001).of(run_at.to_f)
    expect(start_times([id])[id]).to be >= run_at.to_f - 0.001
  ensure
    TaskerCore.stop
  end

  it "keeps a run_at task waiting across a restart of the engine" do
    skip "memory: keeps nothing across a restart" if SpecStore::KIND == "memory"
    first = start_engine(templates: templates, workers: 2, database_url: url)
    run_at = Time.now + 2.5
    id = first.submit_task("scheduled_pair", { "n" => 6 }, run_at: run_at, durable: true)
    first.close(timeout: 5)
    expect(SchedulesSpec::STARTS.size).to eq(0)

    second = start_engine(templates: templates, workers: 2, database_url: url, recover: true)
    began = start_times([id])[id]
    expect(began).to be >= run_at.to_f
    expect(second.wait_for_task(id, timeout: 20).state).to eq("complete")
  end

  # Issue 17: a task waiting for its run_at holds none of a worker's `max_tasks` room. Only
  # PostgreSQL workers claim (and so have that limit); on SQLite and memory: a process runs
  # what it submits, and the example above shows a plain task starting beside a delayed one.
  it "leaves a client's waiting run_at tasks unclaimed, so they take no worker's max_tasks room" do
    skip "only PostgreSQL workers claim tasks (max_tasks)" unless SpecStore.postgres?
    start_engine(templates: templates, workers: 1, database_url: url, recover: true, max_tasks: 1, claim_interval: 0.2)
    client = start_engine(templates: templates, workers: 0, database_url: url, role: :client)
    # Far ahead: a worker that claimed one of them would have no room left for 10 minutes.
    far = Array.new(3) { |i| client.submit_task("scheduled_pair", { "n" => 10 + i }, run_at: Time.now + 600, durable: true) }
    soon_at = Time.now + 1
    soon = client.submit_task("scheduled_pair", { "n" => 20 }, run_at: soon_at, durable: true)
    plain = client.submit_task("scheduled_pair", { "n" => 21 }, durable: true)

    expect(client.wait_for_task(plain, timeout: 20).state).to eq("complete")
    expect(client.wait_for_task(soon, timeout: 20).state).to eq("complete")
    expect(start_times([plain, soon])[soon]).to be >= soon_at.to_f
    # The far tasks wait in the store, claimed by nobody.
    expect(TaskerCore::Insights::Processes.all(engine: client).sum(&:claimed_tasks)).to eq(0)
    expect(far.map { |id| client.task_state(id) }).to all(satisfy { |st| %w[pending in_progress].include?(st) })
  end

  it "leaves waiting run_at tasks in the store when a worker starts after they were submitted" do
    skip "only PostgreSQL workers claim tasks (max_tasks)" unless SpecStore.postgres?
    client = start_engine(templates: templates, workers: 0, database_url: url, role: :client)
    far = Array.new(3) { |i| client.submit_task("scheduled_pair", { "n" => 30 + i }, run_at: Time.now + 600, durable: true) }
    plain = client.submit_task("scheduled_pair", { "n" => 33 }, durable: true)
    # The worker's start-up recovery finds all four unclaimed: it runs the plain one and hands
    # the waiting ones back instead of holding them outside its max_tasks room.
    worker = start_engine(templates: templates, workers: 1, database_url: url, recover: true, max_tasks: 1,
                          claim_interval: 0.2)
    expect(client.wait_for_task(plain, timeout: 20).state).to eq("complete")
    expect(TaskerCore::Insights::Processes.all(engine: client).sum(&:claimed_tasks)).to eq(0)
    expect(far.map { |id| worker.task_state(id) }).to all(satisfy { |st| %w[pending in_progress].include?(st) })
  end

  context "with a cron schedule" do
    let(:every_second) { { "every_second" => { cron: "* * * * * *", task: "scheduled_pair", context: { "from" => "cron" } } } }

    # Waits (bounded) until the engines together handled `count` occurrences.
    def occurrences(engines, count, seconds: 20)
      deadline = monotonic + seconds
      loop do
        stats = engines.map { |e| e.schedules.first }
        return stats if stats.sum { |s| s[:created] } >= count && stats.all? { |s| s[:created] + s[:existing] >= 1 }
        raise "fewer than #{count} occurrences within #{seconds} s: #{stats.inspect}" if monotonic > deadline

        sleep 0.05
      end
    end

    it "submits each occurrence once, by the identity schedule:<name>:<time>" do
      engine = start_engine(templates: templates, workers: 2, database_url: url, schedules: every_second)
      stats = occurrences([engine], 3).first
      expect(stats).to include(name: "every_second", cron: "* * * * * *", failed: 0)
      last = stats[:last_occurrence]
      expect(Time.iso8601(stats[:next_occurrence])).to be > Time.iso8601(last)

      again = engine.submit_once("scheduled_pair", { "from" => "cron" }, identity: { key: "schedule:every_second:#{last}" })
      expect(again.created?).to be(false)
      task = engine.task(again.task_id)
      expect(task.source_system).to eq("tasker_core_schedule")
      expect(task.reason).to eq("schedule every_second at #{last}")
      expect(task.context).to eq("from" => "cron")
      expect(engine.wait_for_task(again.task_id, timeout: 20).state).to eq("complete")
    end

    it "is submitted once per occurrence by two engines on one PostgreSQL database" do
      skip "two engines share a store on PostgreSQL" unless SpecStore.postgres?
      a = start_engine(templates: templates, workers: 2, database_url: url, schedules: every_second)
      b = start_engine(templates: templates, workers: 2, database_url: url, schedules: every_second)
      stats = occurrences([a, b], 4)
      a.stop(timeout: 5)
      b.stop(timeout: 5)
      stats = [a, b].map { |e| e.schedules.first }
      created = stats.sum { |s| s[:created] }
      expect(stats.sum { |s| s[:existing] }).to be >= 1

      schema = "#{SpecStore::PG_SCHEMA}_schedules"
      sql = "SELECT count(*), count(DISTINCT reason) FROM #{schema}.tasker_tasks WHERE source_system = 'tasker_core_schedule'"
      rows, distinct = IO.popen(["psql", SpecStore::PG_URL, "-At", "-F", " ", "-c", sql], &:read).split.map(&:to_i)
      expect(rows).to eq(distinct)
      expect(rows).to eq(created)
    end

    it "refuses a bad cron expression or an unknown task with a ConfigurationError naming the schedule" do
      expect { start_engine(templates: templates, workers: 0, database_url: url, schedules: { "broken" => { cron: "61 * * * *", task: "scheduled_pair" } }) }
        .to raise_error(TaskerCore::ConfigurationError, /schedule "broken".*61/)
      expect { start_engine(templates: templates, workers: 0, database_url: url, schedules: { "lost" => { cron: "0 2 * * *", task: "no_such_task" } }) }
        .to raise_error(TaskerCore::ConfigurationError, /schedule "lost".*no_such_task/)
      expect { start_engine(templates: templates, workers: 0, database_url: url, schedules: { "odd" => { cron: "0 2 * * *", task: "scheduled_pair", every: 1 } }) }
        .to raise_error(TaskerCore::ConfigurationError, /schedule "odd": unknown keys \[:every\]/)
    end
  end
end
