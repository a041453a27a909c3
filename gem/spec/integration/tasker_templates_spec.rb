# frozen_string_literal: true

# Issue 13, item 4: templates written in the Tasker Rails engine's format load unchanged
# (fixtures/tasker_compat; docs/tasker-compat.md lists every key and what it does here).
RSpec.describe "Tasker-format templates" do
  TASKER_COMPAT_TEMPLATES = File.join(FIXTURES, "tasker_compat/templates")

  # Publishes one custom event, then records that it ran.
  class CompatEventHandler < TaskerCore::BaseStepHandler
    def process(context)
      context.publish_event("service_call_started", { "step" => context.step_name }) if context.step_name == "create_user_account"
      { "ran" => context.step_name }
    end
  end

  let(:engine) do
    start_engine(templates: TASKER_COMPAT_TEMPLATES, environment: "test", handler_lookup: ->(_name) { CompatEventHandler })
  end

  it "registers every compatibility template with its custom events, maps or names" do
    by_name = engine.templates.to_h { |t| [t["name"], t] }
    expect(by_name.keys).to include("process_checkout", "user_registration")
    expect(by_name["process_checkout"]).to include("namespace" => "ecommerce", "version" => "1.2.0",
                                                   "task_handler_class" => "CheckoutHandler")
    expect(by_name["process_checkout"]["custom_events"])
      .to eq(%w[checkout.cart_validated checkout.order_created payment.gateway_error])
    expect(by_name["user_registration"]).to include("namespace" => "default", "version" => "0.1.0")
    expect(by_name["user_registration"]["custom_events"])
      .to eq(%w[service_call_started service_call_completed service_call_failed])
  end

  it "runs them, with the environment's overrides applied" do
    seen = Queue.new
    engine.subscribe("service_call_started") { |e| seen << e.name }
    checkout = engine.submit_task("process_checkout",
                                  { "cart_items" => [{ "product_id" => 1, "quantity" => 2 }],
                                    "customer_info" => { "email" => "ada@example.test" } },
                                  namespace: "ecommerce")
    registration = engine.submit_task("user_registration", { "email" => "ada@example.test" })
    expect(engine.wait_for_task(checkout, timeout: 10)).to be_complete
    expect(engine.wait_for_task(registration, timeout: 10)).to be_complete
    expect(pop_within(seen, 5)).to eq("service_call_started")

    payment = engine.task(checkout).steps.find_by(name: "process_payment")
    expect(payment.retry_limit).to eq(1) # environments.test
    info = engine.templates.find { |t| t["name"] == "process_checkout" }
    config = info["steps"].find { |s| s["name"] == "process_payment" }["handler_config"]
    expect(config).to include("type" => "api", "url" => "http://payments.test/charges", "timeout_seconds" => 30)
  end

  it "still refuses a context that breaks the template's schema" do
    expect { engine.submit_task("process_checkout", { "cart_items" => [] }, namespace: "ecommerce") }
      .to raise_error(TaskerCore::ValidationError, /customer_info/)
  end
end
