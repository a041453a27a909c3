# frozen_string_literal: true

# `Native::Engine#submit_in`: the submit without an options Struct that
# `Submitter#submit_task` uses when a call passes at most a namespace and a version.
RSpec.describe "TaskerCore::Native::Engine#submit_in" do
  let(:engine) do
    start_engine(templates: nil, workers: 0).tap do |e|
      e.register_template("name: t\nnamespace_name: ns\nversion: 2.0.0\nstep_templates:\n  - { name: a, handler_class: H }\n")
    end
  end

  it "submits a started task of the template the namespace and version name" do
    id = engine.native.submit_in("t", { "n" => 1 }, "ns", "2.0.0")
    engine.flush
    task = engine.task_hash(id)
    expect(task["context"]).to eq("n" => 1)
    expect(engine.take_steps(max: 1, timeout: 60).map(&:name)).to eq(%w[a])
  end

  it "names the argument a bad value came in" do
    expect { engine.native.submit_in("t", {}, 7, nil) }
      .to raise_error(TaskerCore::ValidationError, /submit option namespace: expected a String/)
    expect { engine.native.submit_in("t", {}, "ns", 2) }
      .to raise_error(TaskerCore::ValidationError, /submit option version: expected a String/)
    expect { engine.native.submit_in("t", [], "ns", nil) }
      .to raise_error(TaskerCore::ValidationError, /context/)
  end

  it "is what Engine#submit_task takes without other options, and the Struct path still works with them" do
    a = engine.submit_task("t", {}, namespace: "ns")
    b = engine.submit_task("t", {}, namespace: "ns", initiator: "me", reason: "why", tags: ["x"])
    engine.flush
    expect(engine.task_hash(a)["initiator"]).to be_nil
    expect(engine.task_hash(b)).to include("initiator" => "me", "reason" => "why")
  end
end
