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
end
