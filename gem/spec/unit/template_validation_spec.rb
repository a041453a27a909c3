# frozen_string_literal: true

module TemplateValidationSpec
  # A handler class that runs `rewrite` (once) when the engine reads its declared execution:
  # that happens between the first check of a template and its registration.
  class RewritesItsTemplate < TaskerCore::BaseStepHandler
    class << self
      attr_accessor :rewrite

      def execution(kind = nil)
        if kind.nil? && rewrite
          action = rewrite
          self.rewrite = nil
          action.call
        end
        super
      end
    end

    def process(_context) = nil
  end
end

RSpec.describe "Template and submission validation" do
  let(:engine) { start_engine(templates: nil, workers: 0) }

  def rejects(yaml, *fragments)
    path = template_file(yaml, "bad.yaml")
    before = engine.native.template_keys
    expect { engine.register_templates(path) }.to raise_error(TaskerCore::ValidationError) { |e|
      expect(e.message).to include(path)
      fragments.each { |f| expect(e.message).to include(f) }
    }
    expect(engine.native.template_keys).to eq(before)
  end

  it "rejects a dependency cycle and prints its path" do
    rejects(<<~YAML, "dependency cycle: ", "step '")
      name: cyclic
      step_templates:
        - { name: a, handler_class: H, depends_on_step: c }
        - { name: b, handler_class: H, depends_on_step: a }
        - { name: c, handler_class: H, depends_on_step: b }
    YAML
    begin
      engine.register_templates(template_file("name: cyclic\nstep_templates:\n  - { name: a, handler_class: H, depends_on_step: b }\n  - { name: b, handler_class: H, depends_on_step: a }\n"))
    rescue TaskerCore::ValidationError => e
      expect(e.message).to match(/dependency cycle: (a -> b -> a|b -> a -> b)/)
    end
  end

  it "rejects an unknown dependency, naming the step" do
    rejects("name: t\nstep_templates:\n  - { name: a, handler_class: H, depends_on_steps: [nope] }\n",
            "step 'a'", "unknown dependency 'nope'")
  end

  it "rejects a duplicate step name" do
    rejects("name: t\nstep_templates:\n  - { name: a, handler_class: H }\n  - { name: a, handler_class: H }\n",
            "step 'a'", "duplicate step name")
  end

  it "rejects a template with no steps" do
    rejects("name: t\nstep_templates: []\n", "at least one step")
  end

  it "rejects a step without handler_class" do
    rejects("name: t\nstep_templates:\n  - { name: a }\n", "step 'a'", "handler_class")
  end

  it "rejects a field of the wrong type, naming the step and the field" do
    rejects("name: t\nstep_templates:\n  - { name: a, handler_class: H, default_retry_limit: many }\n",
            "step 'a'", "default_retry_limit")
    rejects("name: t\nstep_templates:\n  - { name: a, handler_class: H, skippable: sometimes }\n",
            "step 'a'", "skippable")
  end

  it "rejects unparseable YAML" do
    rejects("name: t\nstep_templates: [ { name: a, handler_class: H }\n", "unparseable YAML")
  end

  it "registers nothing from a directory when one file is bad" do
    dir = Dir.mktmpdir
    File.write(File.join(dir, "a_good.yaml"), "name: good\nstep_templates:\n  - { name: a, handler_class: H }\n")
    File.write(File.join(dir, "b_bad.yaml"), "name: bad\nstep_templates:\n  - { name: a, handler_class: H, depends_on_step: a }\n")
    expect { engine.register_templates(dir) }.to raise_error(TaskerCore::ValidationError, /b_bad\.yaml.*dependency cycle: a -> a/)
    expect(engine.native.template_keys).to be_empty
  end

  it "registers a directory's templates and returns their keys in file order" do
    dir = Dir.mktmpdir
    File.write(File.join(dir, "b.yaml"), "name: second\nstep_templates:\n  - { name: a, handler_class: H }\n")
    Dir.mkdir(File.join(dir, "sub"))
    File.write(File.join(dir, "sub", "a.yml"), "name: first\nstep_templates:\n  - { name: a, handler_class: H }\n")
    File.write(File.join(dir, "notes.txt"), "not a template")
    expect(engine.register_templates(dir)).to eq(["default/second@0.1.0", "default/first@0.1.0"])
    expect(engine.native.template_keys).to contain_exactly("default/first@0.1.0", "default/second@0.1.0")
  end

  it "registers nothing from a directory when one file is unparseable, a duplicate, or not UTF-8" do
    dir = Dir.mktmpdir
    File.write(File.join(dir, "a_good.yaml"), "name: good\nstep_templates:\n  - { name: a, handler_class: H }\n")
    bad = File.join(dir, "b_bad.yaml")
    File.write(bad, "name: bad\nstep_templates: [ { name: a, handler_class: H }\n")
    expect { engine.register_templates(dir) }.to raise_error(TaskerCore::ValidationError, /b_bad\.yaml.*unparseable YAML/m)
    File.write(bad, "name: good\nstep_templates:\n  - { name: b, handler_class: H }\n")
    expect { engine.register_templates(dir) }
      .to raise_error(TaskerCore::ValidationError, /b_bad\.yaml.*also defined in .*a_good\.yaml/)
    File.binwrite(bad, "name: bad\nstep_templates:\n  - { name: \xff, handler_class: H }\n")
    expect { engine.register_templates(dir) }.to raise_error(TaskerCore::ValidationError, /b_bad\.yaml/)
    expect(engine.native.template_keys).to be_empty
  end

  it "registers nothing from a directory when a handler the checks refuse is in one file" do
    dir = Dir.mktmpdir
    File.write(File.join(dir, "a_good.yaml"), "name: good\nstep_templates:\n  - { name: a, handler_class: H }\n")
    File.write(File.join(dir, "b_unsafe.yaml"),
               "name: unsafe\nstep_templates:\n  - { name: a, handler_class: RactorSpec::DeclaredButUnsafe }\n")
    expect { engine.register_templates(dir) }
      .to raise_error(TaskerCore::ValidationError, /b_unsafe\.yaml.*RactorSpec::DeclaredButUnsafe cannot run in a Ractor/)
    expect(engine.native.template_keys).to be_empty
    # What the refused checks kept is not taken by the next registration of the directory.
    File.delete(File.join(dir, "b_unsafe.yaml"))
    expect(engine.register_templates(dir)).to eq(["default/good@0.1.0"])
  end

  # Issue 15 item 6: the checks before a path's registration and the registration itself
  # read, parse and compile each file once between them. Observable: a file rewritten while
  # the handler classes are consulted (after the files were read) is registered as the
  # checks read it, not as it is afterwards.
  it "registers a path's templates as the checks before the registration read them" do
    path = template_file("name: as_read\nstep_templates:\n  - { name: a, handler_class: TemplateValidationSpec::RewritesItsTemplate }\n")
    TemplateValidationSpec::RewritesItsTemplate.rewrite = lambda do
      File.write(path, "name: rewritten\nstep_templates:\n  - { name: a, handler_class: H }\n")
    end
    expect(engine.register_templates(path)).to eq(["default/as_read@0.1.0"])
    expect(engine.native.template_keys).not_to include("default/rewritten@0.1.0")
    # The next registration reads the file again.
    expect(engine.register_templates(path)).to eq(["default/rewritten@0.1.0"])
  ensure
    TemplateValidationSpec::RewritesItsTemplate.rewrite = nil
  end

  it "rejects a context that violates the template's schema and creates no task" do
    engine.register_templates(File.join(FIXTURES, "templates/shop"))
    before = engine.stats[:tasks_submitted]
    expect { engine.submit_task("fulfil_order", { "order_id" => "seven", "items" => [] }) }
      .to raise_error(TaskerCore::ValidationError) { |e|
        expect(e.message).to include("shop/fulfil_order@1.0.0", "fulfil_order.yaml", "/order_id")
      }
    engine.flush
    expect(engine.stats[:tasks_submitted]).to eq(before)
  end

  it "rejects a submission for an unknown template" do
    expect { engine.submit_task("no_such_task", {}) }
      .to raise_error(TaskerCore::ValidationError, /task 'no_such_task'.*no such template/)
  end

  it "rejects a context value that cannot become JSON, naming where it is" do
    engine.register_template("name: t\nstep_templates:\n  - { name: a, handler_class: H }\n")
    expect { engine.submit_task("t", { "items" => [1, { "price" => Float::NAN }] }) }
      .to raise_error(TaskerCore::ValidationError, /context\.items\[1\]\.price: NaN is not a valid JSON number/)
    expect { engine.submit_task("t", { "n" => 2**70 }) }
      .to raise_error(TaskerCore::ValidationError, /context\.n: integer is outside the 64-bit range/)
    expect { engine.submit_task("t", { "s" => "\xff".dup.force_encoding("UTF-8") }) }
      .to raise_error(TaskerCore::ValidationError, /context\.s: string is not valid UTF-8/)
    expect { engine.submit_task("t", { "o" => Object.new }) }
      .to raise_error(TaskerCore::ValidationError, /context\.o: cannot convert Object to JSON/)
  end
end
