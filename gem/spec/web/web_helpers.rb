# frozen_string_literal: true

# What the dashboard specs share: a small template whose handler can fail on demand (with
# a hostile error message, to check escaping) or block on a Queue (a task that stays
# running), and an engine holding one complete task, one in error and one running.
require "tasker_core/web"
require "rack/mock"

# The dashboard specs' step handler. Task context "mode": "fail" raises while `broken` is
# set; "block" waits for an item on `gate` (the spec releases it before stopping).
class WebSpecHandler < TaskerCore::BaseStepHandler
  HOSTILE = %(<img src=x onerror="alert('step')"> broken & down)

  class << self
    attr_accessor :broken, :gate
  end

  def process(context)
    mode = context.task_context["mode"]
    raise TaskerCore::PermanentError, HOSTILE if mode == "fail" && self.class.broken && context.step_name == "charge"

    self.class.gate.pop if mode == "block" && context.step_name == "charge"
    { "step" => context.step_name, "attempt" => context.attempt }
  end
end

module WebSpecHelpers
  TEMPLATE = <<~YAML
    name: web_order
    namespace_name: web_spec
    version: 1.0.0
    step_templates:
      - { name: prepare, handler_class: WebSpecHandler }
      - { name: charge, handler_class: WebSpecHandler, depends_on_step: prepare, default_retry_limit: 1 }
      - { name: notify, handler_class: WebSpecHandler, depends_on_step: charge }
      - { name: audit, handler_class: WebSpecHandler, depends_on_step: prepare }
  YAML

  # Starts an engine and makes the three tasks; returns [engine, {complete:, error:, running:}].
  def engine_with_tasks
    WebSpecHandler.broken = true
    WebSpecHandler.gate = Queue.new
    engine = start_engine(templates: nil, workers: 2, database_url: isolated_store)
    engine.register_template(TEMPLATE, source: "web_order.yaml")
    ids = {}
    ids[:complete] = engine.submit_task("web_order", { "mode" => "ok" }, namespace: "web_spec")
    expect(engine.wait_for_task(ids[:complete], timeout: 20)).to be_complete
    ids[:error] = engine.submit_task("web_order", { "mode" => "fail", "note" => "<script>alert('ctx')</script>" },
                                     namespace: "web_spec")
    expect(engine.wait_for_task(ids[:error], timeout: 20)).to be_error
    ids[:running] = engine.submit_task("web_order", { "mode" => "block" }, namespace: "web_spec")
    wait_until { engine.task(ids[:running]).steps.find_by(name: "charge").current_state == "in_progress" }
    # The pages read the store: every finished step must be written (group commit) first.
    engine.flush
    [engine, ids]
  end

  # A store of the dashboard specs' own (a SQLite file, or on PostgreSQL a schema reset now):
  # the pages list every task, so other specs' tasks in the shared schema must not show.
  def isolated_store
    return SpecStore.url unless %w[sqlite postgres].include?(SpecStore::KIND)

    SpecStore.isolated_url("web", Dir.mktmpdir("tasker-web"))
  end

  # Lets a blocked handler finish, so the engine can stop.
  def release_blocked
    WebSpecHandler.gate&.push(:go)
  end

  # Waits (at most `seconds`) until the block is true.
  def wait_until(seconds = 20)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
    until yield
      raise "condition not met within #{seconds} s" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.01
    end
  end
end
