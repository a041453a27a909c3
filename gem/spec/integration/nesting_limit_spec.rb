# frozen_string_literal: true

# How deeply a context or a step's results may nest. The engine stores them as JSON, and a
# stored value must read back: serde_json reads at most 127 levels and Ruby's JSON.parse
# (what ActiveRecord, and so Tasker's models, use) 100 by default. Before the limit was 100,
# a context nested 127 levels was accepted, ran, and then failed every read of its task
# ("unreadable JSON in the store") once the engine no longer held it.
module NestingLimitSpec
  # Returns a result nested as deeply as the task's context asks (`depth` levels).
  class DeepResult < TaskerCore::BaseStepHandler
    def process(context)
      NestingLimitSpec.nested(context.task_context["depth"])
    end
  end

  # An ActiveSupport-style value: as_json gives a Hash, which adds one level, not two.
  class Money
    def as_json(*) = { "cents" => 125 }
  end

  # `levels` Hashes, one inside the other, the innermost holding a number.
  def self.nested(levels)
    value = { "v" => 1 }
    (levels - 1).times { value = { "a" => value } }
    value
  end
end

RSpec.describe "How deeply a context or a result may nest" do
  yaml = <<~YAML
    name: nesting_limit
    step_templates:
      - { name: deep, handler_class: NestingLimitSpec::DeepResult }
  YAML

  let(:url) { SpecStore.url }

  def start(url)
    engine_with_template(yaml_text, source: "nesting_limit", workers: 1, database_url: url)
  end

  define_method(:yaml_text) { yaml }

  it "stores 100 levels in a context and in a result, and reads both back in a new engine" do
    skip "memory: has no store another engine could read" if SpecStore::KIND == "memory"
    engine = start(url)
    context = { "depth" => 100, "deep" => NestingLimitSpec.nested(99) }
    id = engine.submit_task("nesting_limit", context)
    expect(engine.wait_for_task(id, timeout: 30)).to be_complete
    engine.close(timeout: 5)

    again = start(url)
    task = again.task_hash(id)
    expect(task["context"]).to eq(context)
    expect(again.wait_for_task(id, timeout: 5).results["deep"]).to eq(NestingLimitSpec.nested(100))
  end

  [101, 127, 300].each do |levels|
    it "refuses a context nested #{levels} levels, naming where, and stores nothing" do
      engine = start(url)
      expect { engine.submit_task("nesting_limit", { "deep" => NestingLimitSpec.nested(levels - 1) }) }
        .to raise_error(TaskerCore::ValidationError, /\Acontext\.deep(\.a)+: nested deeper than 100 levels/)
      expect(engine.stats[:tasks_submitted]).to eq(0)
    end
  end

  it "counts a value converted with as_json by the JSON it gives" do
    engine = start(url)
    deep = NestingLimitSpec::Money.new
    98.times { deep = { "a" => deep } }
    id = engine.submit_task("nesting_limit", { "deep" => deep, "depth" => 1 })
    expect(engine.task_hash(id)["context"].dig("deep", *Array.new(98, "a"))).to eq("cents" => 125)
    expect { engine.submit_task("nesting_limit", { "deep" => { "a" => deep } }) }
      .to raise_error(TaskerCore::ValidationError, /nested deeper than 100 levels/)
  end

  it "refuses an Array nested 101 levels as it does a Hash" do
    engine = start(url)
    deep = [1]
    100.times { deep = [deep] }
    expect { engine.submit_task("nesting_limit", { "list" => deep }) }
      .to raise_error(TaskerCore::ValidationError, /\Acontext\.list(\[0\])+: nested deeper than 100 levels/)
  end

  it "fails a step whose result nests 101 levels, for good, saying why" do
    engine = start(url)
    id = engine.submit_task("nesting_limit", { "depth" => 101 })
    result = engine.wait_for_task(id, timeout: 30)
    expect(result).not_to be_complete
    step = result.step("deep")
    expect(step).to be_failed
    expect(step.attempts).to eq(1)
    expect(step.error).to include("nested deeper than 100 levels")
  end
end
