# frozen_string_literal: true

# `Engine#submit_task`'s common call goes to `Native::Engine#submit_common`, which declines
# (nil, nothing created) a template whose task_handler_class may define a submit hook until
# Ruby has said it defines none. These pin that a hook still runs for every submission that
# needs it, that a template learnt hook-less is submitted without Ruby's lookup until it is
# registered again, and that names are converted with to_s as Engine#submit_task did.
module SubmitCommonSpec
  # A task handler whose submit hook counts its runs in the context it stores.
  class Stamping
    def establish_step_dependencies_and_defaults(task, _steps)
      task.context["stamped"] = task.context.fetch("stamped", 0) + 1
    end
  end

  # A task handler with no submit hook.
  class Plain; end

  # A task handler with the hook run once a task ended, and none before submission.
  class Annotating
    def update_annotations(_task, _sequence, _steps); end
  end

  # A version given as an object, converted with to_s as any name is.
  Version = Struct.new(:text) do
    def to_s = text
  end
end

RSpec.describe "Engine#submit_task's common path (Native::Engine#submit_common)" do
  let(:engine) { start_engine(templates: nil, workers: 0) }

  def register(engine, name, task_handler_class)
    engine.register_template(<<~YAML, source: "submit_common_spec")
      name: #{name}
      namespace_name: ns
      version: 1.0.0
      task_handler_class: #{task_handler_class}
      step_templates:
        - { name: a, handler_class: H }
    YAML
  end

  def submitted(engine)
    engine.flush
    engine.stats[:tasks_submitted]
  end

  after { SubmitCommonSpec.send(:remove_const, :Late) if SubmitCommonSpec.const_defined?(:Late, false) }

  it "runs a task handler's submit hook for every submission, and declines natively until Ruby ran it" do
    register(engine, "stamped", "SubmitCommonSpec::Stamping")
    ids = Array.new(3) { |i| engine.submit_task("stamped", { "n" => i }, namespace: "ns") }
    expect(ids.map { |id| engine.task_hash(id)["context"] })
      .to eq([0, 1, 2].map { |i| { "n" => i, "stamped" => 1 } })
    before = submitted(engine)
    expect(engine.native.submit_common("stamped", { "n" => 9 }, "ns", nil)).to be_nil
    expect(submitted(engine)).to eq(before)
  end

  it "submits a template whose handler has no hook natively once Ruby learnt that, until it is registered again" do
    register(engine, "late", "SubmitCommonSpec::Late")
    # Not loaded yet: learnt as having no hook, as TaskHandlerHooks always did.
    expect(engine.native.submit_common("late", {}, "ns", nil)).to be_nil
    first = engine.submit_task("late", { "n" => 1 }, namespace: "ns")
    expect(engine.native.submit_common("late", { "n" => 2 }, "ns", nil)).to be_a(Integer)
    SubmitCommonSpec.const_set(:Late, Class.new(SubmitCommonSpec::Stamping))
    second = engine.submit_task("late", { "n" => 3 }, namespace: "ns")
    # Registering again forgets what was learnt, in Ruby and natively: the hook now runs.
    register(engine, "late", "SubmitCommonSpec::Late")
    expect(engine.native.submit_common("late", {}, "ns", nil)).to be_nil
    third = engine.submit_task("late", { "n" => 4 }, namespace: "ns")
    expect([first, second, third].map { |id| engine.task_hash(id)["context"] })
      .to eq([{ "n" => 1 }, { "n" => 3 }, { "n" => 4, "stamped" => 1 }])
  end

  it "submits a template without task_handler_class, or with a hook-less one, natively at once" do
    engine.register_template("name: bare\nnamespace_name: ns\nversion: 1.0.0\nstep_templates:\n  - { name: a, handler_class: H }\n")
    expect(engine.native.submit_common("bare", { "x" => 1 }, "ns", nil)).to be_a(Integer)
    register(engine, "plain", "SubmitCommonSpec::Plain")
    engine.submit_task("plain", {}, namespace: "ns")
    expect(engine.native.submit_common("plain", {}, "ns", nil)).to be_a(Integer)
    register(engine, "annotating", "SubmitCommonSpec::Annotating")
    engine.submit_task("annotating", {}, namespace: "ns")
    expect(engine.native.submit_common("annotating", {}, "ns", nil)).to be_a(Integer)
  end

  it "converts names with to_s on both paths (Symbols, other objects), as Engine#submit_task did" do
    register(engine, "stamped", "SubmitCommonSpec::Stamping")
    engine.register_template("name: bare\nnamespace_name: ns\nversion: 1.0.0\nstep_templates:\n  - { name: a, handler_class: H }\n")
    version = SubmitCommonSpec::Version.new("1.0.0")
    bare = engine.submit_task(:bare, { "k" => :v }, namespace: :ns, version: version)
    stamped = engine.submit_task(:stamped, {}, namespace: :ns, version: version)
    expect(engine.task_hash(bare)).to include("name" => "bare", "context" => { "k" => "v" })
    expect(engine.task_hash(stamped)).to include("name" => "stamped", "context" => { "stamped" => 1 })
  end

  it "reads names in other encodings as before: converted when they can be UTF-8, refused by name when not" do
    engine.register_template("name: bare\nnamespace_name: ns\nversion: 1.0.0\nstep_templates:\n  - { name: a, handler_class: H }\n")
    ids = [["bare".encode("UTF-16LE"), "ns"], ["bare".b, "ns"], ["bare", "ns".encode("ISO-8859-1")]].map do |name, namespace|
      engine.submit_task(name, {}, namespace: namespace)
    end
    expect(ids.map { |id| engine.task_hash(id)["name"] }).to eq(%w[bare bare bare])
    expect { engine.submit_task("bare\xFF".b, {}, namespace: "ns") }
      .to raise_error(TaskerCore::ValidationError, /submit_task name: .* is not valid UTF-8: byte 0xFF at byte offset 4/)
  end

  it "refuses bad input with the error naming it, and creates nothing" do
    engine.register_template("name: bare\nnamespace_name: ns\nversion: 1.0.0\nschema: { type: object, required: [id] }\n" \
                             "step_templates:\n  - { name: a, handler_class: H }\n")
    before = submitted(engine)
    expect { engine.submit_task("nope", {}, namespace: "ns") }
      .to raise_error(TaskerCore::ValidationError, %r{ns/nope.*no such template})
    expect { engine.submit_task("bare", { "id" => Float::NAN }, namespace: "ns") }
      .to raise_error(TaskerCore::ValidationError, /context\.id/)
    expect { engine.submit_task("bare", { "other" => 1 }, namespace: "ns") }
      .to raise_error(TaskerCore::ValidationError, /schema/)
    expect { engine.submit_task("bare", [1], namespace: "ns") }
      .to raise_error(TaskerCore::ValidationError, /context/)
    expect(submitted(engine)).to eq(before)
  end
end
