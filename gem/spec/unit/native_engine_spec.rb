# frozen_string_literal: true

RSpec.describe TaskerCore::Native::Engine do
  it "is shareable across Ractors once frozen" do
    engine = start_engine(templates: nil, workers: 0)
    native = Ractor.make_shareable(engine.native)
    expect(Ractor.shareable?(native)).to be(true)
    stats = Ractor.new(native) { |n| n.stats[:tasks_submitted] }.take
    expect(stats).to eq(0)
  end

  it "converts Time, Symbol, nested Hash and Array values in a context" do
    engine = start_engine(templates: nil, workers: 0)
    engine.register_template("name: t\nstep_templates:\n  - { name: a, handler_class: H }\n")
    at = Time.utc(2026, 11, 27, 10, 0, 0, 123_456)
    id = engine.submit_task("t", { at: at, kind: :rush, list: [1, 2.5, nil, true, { "x" => [false] }], 7 => "seven" })
    engine.flush
    context = engine.task_hash(id)["context"]
    expect(context).to eq("at" => "2026-11-27T10:00:00.123456Z", "kind" => "rush",
                          "list" => [1, 2.5, nil, true, { "x" => [false] }], "7" => "seven")
    task = engine.task_hash(id)
    expect(task["created_at"]).to be_a(Time)
    expect(task["created_at"]).to be_utc
  end

  it "reports counters" do
    engine = start_engine
    id = engine.submit_task("diamond", {}, namespace: "fixtures")
    # A generous bound: this file also runs under GC.stress, where the task takes seconds.
    engine.wait_for_task(id, timeout: 60, raise_on_timeout: true)
    expect(engine.stats).to include(tasks_submitted: 1, tasks_completed: 1, steps_completed: 4, steps_in_flight: 0)
  end

  it "takes steps under take_steps, and under next_steps, its older name" do
    engine = start_engine(templates: nil, workers: 0)
    engine.register_template("name: t\nstep_templates:\n  - { name: a, handler_class: H }\n")
    2.times { engine.submit_task("t", {}) }
    first = engine.take_steps(max: 1, timeout: 60)
    second = engine.next_steps(max: 1, timeout: 60)
    expect((first + second).map(&:name)).to eq(%w[a a])
  end

  it "names the option a bad value came in" do
    engine = start_engine(templates: nil, workers: 0)
    engine.register_template("name: t\nstep_templates:\n  - { name: a, handler_class: H }\n")
    options = TaskerCore::Native::SubmitOptions.new(nil, 7, nil, nil, nil, nil, true, nil)
    expect { engine.native.submit("t", {}, options) }
      .to raise_error(TaskerCore::ValidationError, /submit option version: expected a String/)
    expect { engine.native.submit("t", {}, [nil] * 8) }
      .to raise_error(TaskerCore::ValidationError, /submit options: expected a TaskerCore::Native::SubmitOptions/)
    id = engine.submit_task("t", {})
    bad = TaskerCore::Native::OperateOptions.new(nil, nil, nil, nil, "soon")
    expect { engine.native.operate(id, "cancel", bad) }
      .to raise_error(TaskerCore::ValidationError, /operate option timeout: expected seconds/)
  end
end
