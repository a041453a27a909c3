# frozen_string_literal: true

require "yaml"

# A template sharing its steps' common keys through YAML anchors and merge keys, as Tasker
# apps write them, loads as Ruby's Psych (which Tasker loads templates with) reads it. It was
# refused: "missing field `handler_class`".
module YamlMergeKeysSpec
  # Finishes at once.
  class Done < TaskerCore::BaseStepHandler
    def process(_context) = { "ok" => true }
  end

  TEMPLATE = <<~YAML
    name: merged_steps
    namespace_name: merge_spec
    step_defaults: &step_defaults
      handler_class: YamlMergeKeysSpec::Done
      default_retry_limit: 5
      handler_config: { timeout: 10, region: eu }
    api_defaults: &api_defaults
      default_retryable: false
      handler_config: { type: api }
    step_templates:
      - <<: *step_defaults
        name: fetch
      - <<: *step_defaults
        name: charge
        depends_on_step: fetch
        default_retry_limit: 1
      # Psych: a key before `<<` is overridden by the merge
      - default_retry_limit: 9
        <<: *step_defaults
        name: ship
        depends_on_step: charge
      # Psych: in a list, the earlier mapping wins
      - <<: [*api_defaults, *step_defaults]
        name: notify
        depends_on_step: ship
  YAML
end

RSpec.describe "Templates with YAML merge keys" do
  let(:engine) { engine_with_template(YamlMergeKeysSpec::TEMPLATE, source: "merged_steps.yaml", workers: 1) }

  it "registers the steps Psych reads from it, and runs them" do
    psych = YAML.safe_load(YamlMergeKeysSpec::TEMPLATE, aliases: true)["step_templates"]
    steps = engine.templates.find { |t| t["name"] == "merged_steps" }["steps"]
    expect(steps.map { |s| s["name"] }).to eq(psych.map { |s| s["name"] })
    steps.zip(psych).each do |registered, read|
      expect(registered).to include("handler_class" => read.fetch("handler_class"),
                                    "retry_limit" => read.fetch("default_retry_limit"),
                                    "retryable" => read.fetch("default_retryable", true),
                                    "handler_config" => read.fetch("handler_config"))
    end
    expect(steps.map { |s| s["retry_limit"] }).to eq([5, 1, 5, 5])
    expect(steps.last["handler_config"]).to eq("type" => "api")

    id = engine.submit_task("merged_steps", {}, namespace: "merge_spec")
    expect(engine.wait_for_task(id, timeout: 30)).to be_complete
  end

  it "keeps a merge key that merges nothing as a key, which templates ignore as Tasker does" do
    yaml = "name: odd_merge\nstep_templates:\n  - { <<: 5, name: a, handler_class: YamlMergeKeysSpec::Done }\n"
    expect(YAML.safe_load(yaml)["step_templates"].first).to include("<<" => 5)
    engine.register_template(yaml, source: "odd_merge.yaml")
    steps = engine.templates.find { |t| t["name"] == "odd_merge" }["steps"]
    expect(steps.map { |s| s["name"] }).to eq(["a"])
  end
end
