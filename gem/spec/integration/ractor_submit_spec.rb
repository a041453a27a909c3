# frozen_string_literal: true

# Issue 21: Ractors submit work through a documented, shareable handle (engine.submitter,
# TaskerCore.submitter, TaskerCore.submit inside a Ractor).
RSpec.describe "Submitting from Ractors" do
  RACTOR_SUBMIT_TEMPLATE = "name: ractor_submitted\nstep_templates:\n  - { name: only, handler_class: Fixtures::NoopHandler }\n"

  before { Warning[:experimental] = false }

  let(:engine) do
    start_engine(templates: nil, workers: 4).tap { |e| e.register_template(RACTOR_SUBMIT_TEMPLATE, source: "ractor_submitted.yaml") }
  end

  it "takes 1,000 tasks from each of two Ractors, each waiting for its own" do
    submitter = engine.submitter
    expect(Ractor.shareable?(submitter)).to be(true)
    ractors = Array.new(2) do |r|
      Ractor.new(submitter, r) do |submitter, r|
        ids = Array.new(1000) { |i| submitter.submit_task("ractor_submitted", { "ractor" => r, "i" => i }) }
        ids.map { |id| [id, submitter.wait_for_task(id, timeout: 60).state, submitter.task_state(id)] }
      end
    end
    outcomes = ractors.flat_map { |r| TaskerCore::RactorShim.value(r) }
    expect(outcomes.size).to eq(2000)
    expect(outcomes.map(&:first).uniq.size).to eq(2000)
    expect(outcomes.map { |_, state, _| state }.uniq).to eq(["complete"])
    expect(outcomes.map(&:last).uniq).to eq(["complete"])
    expect(engine.task(outcomes.first.first).context).to include("i" => 0)
  end

  it "refuses bad input from a Ractor with the same error as from a thread" do
    from_thread = [42, { "x" => 1 }].map do |context|
      engine.submit_task(context == 42 ? "ractor_submitted" : "no_such_template", context)
    rescue TaskerCore::Error => e
      [e.class, e.message]
    end
    from_ractor = Ractor.new(engine.submitter) do |submitter|
      [42, { "x" => 1 }].map do |context|
        submitter.submit_task(context == 42 ? "ractor_submitted" : "no_such_template", context)
      rescue TaskerCore::Error => e
        [e.class, e.message]
      end
    end.then { |r| TaskerCore::RactorShim.value(r) }
    expect(from_ractor).to eq(from_thread)
    expect(from_ractor.map(&:first)).to all(eq(TaskerCore::ValidationError))
  end

  it "lets TaskerCore.submit work inside a Ractor once TaskerCore.start ran, and says what to do before" do
    unstarted = Ractor.new do
      TaskerCore.submit("ractor_submitted", {})
    rescue TaskerCore::OrchestrationError => e
      e.message
    end.then { |r| TaskerCore::RactorShim.value(r) }
    expect(unstarted).to include("call TaskerCore.start in the main Ractor first")

    TaskerCore.start(templates: nil, workers: 2, database_url: SpecStore.url, recover: false, instrument: false)
    begin
      TaskerCore.engine.register_template(RACTOR_SUBMIT_TEMPLATE, source: "ractor_submitted.yaml")
      id = Ractor.new { TaskerCore.submit("ractor_submitted", { "from" => "ractor" }) }.then { |r| TaskerCore::RactorShim.value(r) }
      expect(TaskerCore.engine.wait_for_task(id, timeout: 10)).to be_complete
      expect(Ractor.new { TaskerCore.submitter.equal?(TaskerCore.submitter) }.then { |r| TaskerCore::RactorShim.value(r) }).to be(true)
    ensure
      TaskerCore.stop(timeout: 5)
    end
    after_stop = Ractor.new do
      TaskerCore.submit("ractor_submitted", {})
    rescue TaskerCore::OrchestrationError => e
      e.class
    end.then { |r| TaskerCore::RactorShim.value(r) }
    expect(after_stop).to eq(TaskerCore::OrchestrationError)
  end

  it "lets a thread in a Ractor waiting in wait_for_task be killed at once, like any thread" do
    engine.register_template("name: never_ends\nstep_templates:\n  - { name: held, handler_class: Fixtures::NoopHandler }\n")
    id = engine.create_task("never_ends", {}) # pending: nobody will run it
    elapsed = Ractor.new(engine.submitter, id) do |submitter, id|
      waiter = Thread.new { submitter.wait_for_task(id, timeout: 30) }
      sleep 0.2
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      waiter.kill
      waiter.join
      Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
    end.then { |r| TaskerCore::RactorShim.value(r) }
    expect(elapsed).to be < 1.0
  end
end
