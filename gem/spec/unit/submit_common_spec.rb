# frozen_string_literal: true

# `Engine#submit_task`'s common call goes to `Native::Engine#submit_common`, which declines
# (nil, nothing created) a template whose task_handler_class may define a submit hook until
# Ruby has said it defines none. These pin that a hook still runs for every submission that
# needs it, that a template learnt hook-less is submitted without Ruby's lookup until any
# registration, that a class not found or one that annotates is never learnt hook-less, and
# that names are converted with to_s as Engine#submit_task did.
module SubmitCommonSpec
  # A task handler whose submit hook counts its runs in the context it stores.
  class Stamping
    def establish_step_dependencies_and_defaults(task, _steps)
      task.context["stamped"] = task.context.fetch("stamped", 0) + 1
    end
  end

  # A task handler with no submit hook.
  class Plain; end

  # A task handler with the hook run once a task ended, and none before submission: records
  # the tasks it annotated.
  class Annotating
    ANNOTATED = Queue.new

    def update_annotations(task, _sequence, _steps)
      ANNOTATED << task.id
    end
  end

  # A step handler that completes at once.
  class Done < TaskerCore::BaseStepHandler
    def process(_context)
      { "done" => true }
    end
  end

  # A handler resolver that finds no class (a second Engine over one native engine may have
  # one of its own).
  class NothingResolver
    def handler_class(name)
      raise NameError, "uninitialized constant #{name}"
    end
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

  it "submits a template whose handler has no hook natively once Ruby learnt that, until any registration" do
    register(engine, "plain", "SubmitCommonSpec::Plain")
    expect(engine.native.submit_common("plain", {}, "ns", nil)).to be_nil
    engine.submit_task("plain", {}, namespace: "ns")
    expect(engine.native.submit_common("plain", {}, "ns", nil)).to be_a(Integer)
    # Another template's registration may bring classes Ruby has not looked at: forgotten.
    engine.register_template("name: other\nnamespace_name: ns\nstep_templates:\n  - { name: a, handler_class: H }\n")
    expect(engine.native.submit_common("plain", {}, "ns", nil)).to be_nil
    engine.submit_task("plain", {}, namespace: "ns")
    expect(engine.native.submit_common("plain", {}, "ns", nil)).to be_a(Integer)
  end

  it "keeps asking Ruby about a class it has not found, and runs its hook once a registration made Ruby look again" do
    register(engine, "late", "SubmitCommonSpec::Late")
    first = engine.submit_task("late", { "n" => 1 }, namespace: "ns")
    # Not found: nothing runs (as TaskHandlerHooks always did), and the engine is not told.
    expect(engine.native.submit_common("late", {}, "ns", nil)).to be_nil
    SubmitCommonSpec.const_set(:Late, Class.new(SubmitCommonSpec::Stamping))
    engine.register_template("name: other\nnamespace_name: ns\nstep_templates:\n  - { name: a, handler_class: H }\n")
    second = engine.submit_task("late", { "n" => 2 }, namespace: "ns")
    expect([first, second].map { |id| engine.task_hash(id)["context"] })
      .to eq([{ "n" => 1 }, { "n" => 2, "stamped" => 1 }])
  end

  it "does not count what Ruby learnt before a registration, nor what another Engine could not find" do
    register(engine, "stamped", "SubmitCommonSpec::Stamping")
    register(engine, "plain", "SubmitCommonSpec::Plain")
    stale = engine.native.caller_hooks_epoch
    engine.register_template("name: other\nnamespace_name: ns\nstep_templates:\n  - { name: a, handler_class: H }\n")
    engine.native.submit_hooks_absent("plain", "ns", nil, stale)
    expect(engine.native.submit_common("plain", {}, "ns", nil)).to be_nil
    engine.native.submit_hooks_absent("plain", "ns", nil, engine.native.caller_hooks_epoch)
    expect(engine.native.submit_common("plain", {}, "ns", nil)).to be_a(Integer)

    blind = TaskerCore::Engine.new(engine.native, resolver: SubmitCommonSpec::NothingResolver.new)
    blind.submit_task("stamped", { "n" => 1 }, namespace: "ns")
    id = engine.submit_task("stamped", { "n" => 2 }, namespace: "ns")
    expect(engine.task_hash(id)["context"]).to eq("n" => 2, "stamped" => 1)
  end

  it "keeps a template whose handler annotates finished tasks on Ruby's path, across registrations" do
    worker = start_engine(templates: nil, workers: 1)
    worker.register_template(<<~YAML)
      name: annotated
      namespace_name: ns
      task_handler_class: SubmitCommonSpec::Annotating
      step_templates:
        - { name: a, handler_class: SubmitCommonSpec::Done }
    YAML
    first = worker.submit_task("annotated", {}, namespace: "ns")
    expect(worker.wait_for_task(first, timeout: 10)).to be_complete
    expect(pop_within(SubmitCommonSpec::Annotating::ANNOTATED, 5)).to eq(first)
    worker.register_template("name: other\nnamespace_name: ns\nstep_templates:\n  - { name: a, handler_class: H }\n")
    second = worker.submit_task("annotated", {}, namespace: "ns")
    expect(worker.wait_for_task(second, timeout: 10)).to be_complete
    expect(pop_within(SubmitCommonSpec::Annotating::ANNOTATED, 5)).to eq(second)
    expect(worker.native.submit_common("annotated", {}, "ns", nil)).to be_nil
  end

  it "submits a template without task_handler_class natively at once, and a hook-less one once learnt" do
    engine.register_template("name: bare\nnamespace_name: ns\nversion: 1.0.0\nstep_templates:\n  - { name: a, handler_class: H }\n")
    expect(engine.native.submit_common("bare", { "x" => 1 }, "ns", nil)).to be_a(Integer)
    register(engine, "plain", "SubmitCommonSpec::Plain")
    engine.submit_task("plain", {}, namespace: "ns")
    expect(engine.native.submit_common("plain", {}, "ns", nil)).to be_a(Integer)
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
    expect { engine.submit_task("bare\xFF".b.to_sym, {}, namespace: "ns") }
      .to raise_error(TaskerCore::ValidationError, /submit_task name: .* is not valid UTF-8: byte 0xFF at byte offset 4/)
    expect { engine.submit_task("bare", {}, namespace: "n\xFFs".b.to_sym) }
      .to raise_error(TaskerCore::ValidationError, /namespace: .* is not valid UTF-8: byte 0xFF at byte offset 1/)
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
