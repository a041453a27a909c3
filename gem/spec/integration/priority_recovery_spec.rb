# frozen_string_literal: true

# Issue 17, item 3: a task's priority is stored with it (`tasker_core_task_priorities`), so
# a task recovered by a restarted engine keeps it. The ordering itself (higher first, with
# aging) is covered in dispatch_gate_spec.rb; this file covers what survives the engine.
# No timing is asserted: the order in which steps start is recorded and compared.
require "fileutils"

module PriorityRecoverySpec
  STARTED = Queue.new

  # Records the task's "label" when its step starts.
  class Recording < TaskerCore::BaseStepHandler
    def process(context)
      PriorityRecoverySpec::STARTED << context.task_context["label"]
      { "ok" => true }
    end
  end

  PRIORITY_RECOVERY_TEMPLATE = <<~YAML
    name: prio_recovered
    namespace_name: prio_recovered
    step_templates:
      - { name: only, handler_class: PriorityRecoverySpec::Recording }
  YAML
end

RSpec.describe "Priority across a restart" do
  let(:dir) { Dir.mktmpdir("tasker-prio") }
  let(:url) { SpecStore.isolated_url("prio_recovery", dir) }

  before do
    skip "memory: keeps nothing across a restart" if SpecStore::KIND == "memory"
    PriorityRecoverySpec::STARTED.clear
  end

  after do
    stop_engines
    FileUtils.rm_rf(dir)
  end

  # The labels in the order their steps started, waiting (bounded) for `count` of them.
  def started(count)
    Array.new(count) { pop_within(PriorityRecoverySpec::STARTED, 60) }
  end

  it "starts a high-priority task submitted behind 1,000 low-priority ones first after a restart" do
    first = start_engine(templates: nil, workers: 0, database_url: url)
    first.register_template(PriorityRecoverySpec::PRIORITY_RECOVERY_TEMPLATE)
    low = Array.new(1000) { |i| first.submit_task("prio_recovered", { "label" => "low#{i}" }, namespace: "prio_recovered") }
    # Durable: committed once this returns, and so is every submission before it.
    high = first.submit_task("prio_recovered", { "label" => "high" }, namespace: "prio_recovered",
                                                                        priority: 10, durable: true)
    first.close(timeout: 10)
    expect(PriorityRecoverySpec::STARTED.size).to eq(0)

    # Recovery puts every stored task's steps in the dispatch gate before a worker exists;
    # the pool's start keeps only its own depth queued, by priority.
    second = start_engine(templates: nil, workers: 0, database_url: url)
    second.register_template(PriorityRecoverySpec::PRIORITY_RECOVERY_TEMPLATE)
    second.recover
    pool = second.start_pool(workers: 1, batch_size: 16)
    order = started(1001)
    ([high] + low).each { |id| expect(second.wait_for_task(id, timeout: 60)).to be_complete }
    # Without the stored priority the high task would run 1,001st, after every low one.
    expect(order.index("high")).to be <= pool.queue_depth
    expect(order.size).to eq(1001)
  end
end
