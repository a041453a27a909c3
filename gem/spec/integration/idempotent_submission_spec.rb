# frozen_string_literal: true

require "rbconfig"
require "securerandom"
require "tmpdir"

# Issue 17 item 2: a submission with an identity creates its task once. Repeats -
# sequential, from many threads at once, from a client and a worker engine on one
# PostgreSQL database, a job delivered twice - get the first task's id and say so.
RSpec.describe "Idempotent submission" do
  CHARGE_CARD_TEMPLATE = <<~YAML
    name: charge_card
    namespace_name: billing
    version: 1.0.0
    step_templates:
      - { name: charge, handler_class: NoSuchHandlerNeeded }
  YAML

  let!(:engine) { engine_with_template(CHARGE_CARD_TEMPLATE, source: "charge_card.yaml") }
  let(:run) { SecureRandom.hex(6) } # keeps identities apart on a shared PostgreSQL schema

  def stored_tasks(on = engine) = TaskerCore::Insights::SystemHealthCounts.from_store(engine: on).total_tasks

  it "creates the task once and answers a sequential repeat with its id" do
    before = stored_tasks
    first = engine.submit_once("charge_card", { "order" => run, "cents" => 100 })
    again = engine.submit_once("charge_card", { "cents" => 100, "order" => run })
    expect(first).to have_attributes(created?: true, duplicate?: false)
    expect(again).to have_attributes(task_id: first.task_id, created?: false, duplicate?: true)
    expect(engine.submit_task("charge_card", { "order" => run, "cents" => 100 }, identity: :default)).to eq(first.task_id)
    expect(engine.task(first.task_id).current_state).to eq("in_progress")
    expect(stored_tasks - before).to eq(1)
  end

  it "tells identities apart by context, labels, key and strategy" do
    base = engine.submit_once("charge_card", { "order" => run }).task_id
    other_context = engine.submit_once("charge_card", { "order" => "#{run}-2" }).task_id
    other_reason = engine.submit_once("charge_card", { "order" => run }, reason: "retry by hand").task_id
    expect([base, other_context, other_reason].uniq.size).to eq(3)

    keyed = engine.submit_once("charge_card", { "order" => run }, identity: { key: "pay-#{run}" })
    # caller_provided: the key alone decides, whatever the context says.
    same_key = engine.submit_once("charge_card", { "order" => "changed" },
                                  identity: { strategy: :caller_provided, key: "pay-#{run}" })
    expect(same_key).to have_attributes(task_id: keyed.task_id, created?: false)

    unique = Array.new(2) { engine.submit_once("charge_card", { "order" => run }, identity: :always_unique) }
    expect(unique.map(&:created?)).to eq([true, true])
    expect(unique.map(&:task_id).uniq.size).to eq(2)
    expect(unique.map(&:task_id)).not_to include(base)
  end

  it "holds within a window" do
    a = engine.submit_once("charge_card", { "order" => run }, identity: { window: 3600 })
    b = engine.submit_once("charge_card", { "order" => run }, identity: { window: 3600 })
    expect(b).to have_attributes(task_id: a.task_id, created?: false)
    # A different window length is a different identity (its windows are other windows).
    expect(engine.submit_once("charge_card", { "order" => run }, identity: { window: 7200 }).created?).to be(true)
  end

  it "yields one task for the same identity submitted by 8 threads at once" do
    before = stored_tasks
    gate = Queue.new
    threads = Array.new(8) do
      Thread.new do
        gate.pop
        Array.new(5) { engine.submit_once("charge_card", { "order" => run }, identity: { key: "t-#{run}" }) }
      end
    end
    8.times { gate << :go }
    results = threads.flat_map(&:value)
    expect(results.map(&:task_id).uniq.size).to eq(1)
    expect(results.count(&:created?)).to eq(1)
    expect(stored_tasks - before).to eq(1)
  end

  it "refuses a bad identity by name and creates nothing" do
    before = stored_tasks
    expect { engine.submit_once("charge_card", {}, identity: :sometimes) }
      .to raise_error(TaskerCore::ValidationError, /identity strategy "sometimes": not one of default, caller_provided, always_unique/)
    expect { engine.submit_task("charge_card", {}, identity: { strategy: :caller_provided }) }
      .to raise_error(TaskerCore::ValidationError, /identity strategy caller_provided: needs a key/)
    expect { engine.submit_once("charge_card", {}, identity: { window: 0 }) }
      .to raise_error(TaskerCore::ValidationError, /identity window: expected at least 1 second, got 0/)
    expect { engine.submit_once("charge_card", {}, identity: { keys: "x" }) }
      .to raise_error(TaskerCore::ValidationError, /identity: unknown key\(s\) keys/)
    expect { engine.submit_once("charge_card", {}, identity: 42) }
      .to raise_error(TaskerCore::ValidationError, /identity: expected :default/)
    expect { engine.submit_once("no_such_template", {}) }.to raise_error(TaskerCore::ValidationError)
    expect(stored_tasks).to eq(before)
  end

  it "submits once for a SubmitTaskJob delivered twice" do
    require "tasker_core/submit_task_job"
    ActiveJob::Base.logger = Logger.new(nil)
    TaskerCore.start(templates: nil, workers: 0, database_url: SpecStore.url, recover: false, instrument: false)
    TaskerCore.engine.register_template(CHARGE_CARD_TEMPLATE, source: "charge_card.yaml")
    before = stored_tasks(TaskerCore.engine)
    job = TaskerCore::SubmitTaskJob.new("charge_card", { "order" => run }, namespace: "billing")
    data = job.serialize # what a queue stores; each delivery runs a copy of it
    ids = Array.new(2) { ActiveJob::Base.execute(data) }
    expect(ids.uniq.size).to eq(1)
    expect(stored_tasks(TaskerCore.engine) - before).to eq(1)
    # Another enqueue of the same arguments is another job: a new task.
    other = TaskerCore::SubmitTaskJob.new("charge_card", { "order" => run }, namespace: "billing")
    expect(ActiveJob::Base.execute(other.serialize)).not_to eq(ids.first)
  ensure
    TaskerCore.stop
  end

  context "with a client and a worker engine on one PostgreSQL database" do
    before { skip "engines share tasks on PostgreSQL only" unless SpecStore.postgres? }

    it "yields one task for an identity both submit from several threads at once, run by the worker" do
      url = SpecStore.isolated_url("idempotent", Dir.mktmpdir("tasker-idem"))
      worker = engine_with_template(CHARGE_CARD_TEMPLATE, source: "charge_card.yaml", database_url: url)
      client = engine_with_template(CHARGE_CARD_TEMPLATE, source: "charge_card.yaml", database_url: url, role: :client)
      20.times do |round|
        gate = Queue.new
        threads = [worker, client].flat_map do |e|
          Array.new(3) do
            Thread.new do
              gate.pop
              e.submit_once("charge_card", { "order" => run, "round" => round })
            end
          end
        end
        6.times { gate << :go }
        results = threads.map(&:value)
        expect(results.map(&:task_id).uniq.size).to eq(1), "round #{round}: #{results.inspect}"
        expect(results.count(&:created?)).to eq(1), "round #{round}: #{results.inspect}"
      end
      expect(stored_tasks(worker)).to eq(20)
      # Both engines' first submitters usually read the store before either commits, so
      # most rounds are decided by the unique index (the loser's task dropped, the winner's
      # id returned): more tasks were submitted to the orchestrators than stored.
      submitted = worker.stats[:tasks_submitted] + client.stats[:tasks_submitted]
      expect(submitted).to be > 20
    end

    it "yields one task per identity when a client process and a worker process submit them at once" do
      dir = Dir.mktmpdir("tasker-idem-processes")
      url = SpecStore.isolated_url("idempotent_processes", dir)
      template = File.join(dir, "charge_card.yaml")
      File.write(template, CHARGE_CARD_TEMPLATE)
      keys = 40
      worker = engine_with_template(CHARGE_CARD_TEMPLATE, source: template, database_url: url)
      child = IO.popen([RbConfig.ruby, File.expand_path("../bin/identity_child.rb", __dir__), url, template, keys.to_s],
                       "r+")
      expect(child.gets).to eq("ready\n")
      child.puts "go"
      child.flush
      mine = Array.new(3) do
        Thread.new do
          Array.new(keys) do |i|
            s = worker.submit_once("charge_card", { "n" => i }, identity: { key: "key-#{i}" })
            ["key-#{i}", s.task_id, s.created?]
          end
        end
      end.flat_map(&:value)
      theirs = child.read.split("\n").map { |l| l.split.then { |k, id, created| [k, Integer(id), created == "true"] } }
      child.close
      expect($?.success?).to be(true)
      all = mine + theirs
      expect(all.size).to eq(6 * keys)
      all.group_by(&:first).each do |key, rows|
        expect(rows.map { |r| r[1] }.uniq.size).to eq(1), "#{key}: #{rows.inspect}"
        expect(rows.count { |r| r[2] }).to eq(1), "#{key}: #{rows.inspect}"
      end
      expect(stored_tasks(worker)).to eq(keys)
    end
  end
end
