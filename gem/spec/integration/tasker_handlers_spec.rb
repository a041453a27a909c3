# frozen_string_literal: true

require "tasker_core/tasker_compat"
require_relative "../../../fixtures/tasker_compat/handlers/checkout"

# Issue 22: handlers written for the Tasker Rails engine run unchanged
# (fixtures/tasker_compat: Tasker's base classes and errors, grandparent reads through the
# sequence, a task handler with Tasker's hooks).
RSpec.describe "Tasker's own handlers" do
  TASKER_CHECKOUT_TEMPLATE = File.join(FIXTURES, "tasker_compat/templates/checkout.yaml")
  TASKER_CHECKOUT_CONTEXT = { "cart_items" => [{ "product_id" => 1, "quantity" => 2 }, { "product_id" => 2, "quantity" => 1 }],
              "customer_info" => { "email" => "ada@example.test" } }.freeze

  before { TaskerCompat::MockServices.reset! }

  let(:engine) { start_engine(templates: TASKER_CHECKOUT_TEMPLATE) }

  def checkout(engine, context = TASKER_CHECKOUT_CONTEXT)
    id = engine.submit_task("process_checkout", context, namespace: "ecommerce")
    [id, engine.wait_for_task(id, timeout: 20)]
  end

  it "runs the Tasker-style checkout to completion, every step reading what Tasker gives it" do
    id, result = checkout(engine)
    expect(result).to be_complete
    results = result.results
    expect(results["validate_cart"]).to include("total" => 92.34, "item_count" => 2)
    expect(results["process_payment"]).to include("payment_id" => "pay_#{id}", "amount_charged" => 92.34)
    expect(results["update_inventory"]["reservations"].size).to eq(2) # read from its grandparent
    expect(results["create_order"]).to include("order_number" => "ORD-#{id}", "order_id" => 1000 + id,
                                               "reserved" => 2, "express" => true)
    expect(results["send_confirmation"]).to include("recipient" => "ada@example.test", "item_count" => 2,
                                                    "attempts_before" => 0)
    expect(results["send_confirmation"]["steps_seen"])
      .to eq(%w[validate_cart process_payment update_inventory create_order send_confirmation])
    # establish_step_dependencies_and_defaults ran at submission: its context is stored.
    expect(engine.task(id).context).to include("express_processing" => true)
    # update_annotations ran once the task ended, with every step.
    deadline = monotonic + 5
    sleep 0.01 until TaskerCompat::MockServices.annotations[id] || monotonic > deadline
    expect(TaskerCompat::MockServices.annotations[id]).to eq(
      "steps" => %w[validate_cart process_payment update_inventory create_order send_confirmation],
      "states" => ["complete"], "order_number" => "ORD-#{id}"
    )
  end

  it "does not retry a Tasker::PermanentError, and keeps its error_code on the attempt and the event" do
    TaskerCompat::MockServices.payment_mode = :declined
    failures = Queue.new
    engine.subscribe("step.failed") { |event| failures << event.context }
    id, result = checkout(engine)
    expect(result.state).to eq("error")
    expect(TaskerCompat::MockServices.calls[:payment].size).to eq(1)
    payment = engine.task(id).steps.find_by(name: "process_payment")
    attempt = payment.execution_attempts.last
    expect(attempt).to have_attributes(error_class: "Tasker::PermanentError", error_code: "PAYMENT_DECLINED",
                                       error_context: { "amount" => 92.34 })
    expect(payment.state_transitions.last.reason).to eq("permanent_error")
    event = pop_within(failures, 5)
    expect(event).to include("error_class" => "Tasker::PermanentError", "error_code" => "PAYMENT_DECLINED",
                             "step_name" => "process_payment")
  end

  it "waits as a Tasker::RetryableError's retry_after asks" do
    TaskerCompat::MockServices.payment_mode = :rate_limited_once
    slow = start_engine(templates: TASKER_CHECKOUT_TEMPLATE, backoff_scale: 1.0)
    id, result = checkout(slow)
    expect(result).to be_complete
    payment = slow.task(id).steps.find_by(name: "process_payment")
    expect(payment.attempts).to eq(1)
    first, second = payment.execution_attempts
    expect(first).to have_attributes(status: "error", error_class: "Tasker::RetryableError", retry_after: 1)
    expect(second.status).to eq("complete")
    runs = payment.state_transitions.select { |t| t.to_state == "in_progress" }.map(&:created_at)
    expect(runs[1] - runs[0]).to be >= 1.0
    expect(TaskerCompat::MockServices.calls[:payment].map { |c| c[:attempt] }).to eq([0, 1])
  end

  it "refuses an empty cart with the handler's own error code" do
    id, result = checkout(engine, TASKER_CHECKOUT_CONTEXT.merge("cart_items" => []))
    expect(result.state).to eq("error")
    attempt = engine.task(id).steps.find_by(name: "validate_cart").execution_attempts.last
    expect(attempt.error_code).to eq("MISSING_CART_ITEMS")
  end

  it "gives TaskerCore's own errors the same fields" do
    error = TaskerCore::PermanentError.new("no", error_code: "NOPE", context: { "a" => 1 })
    expect([error.message, error.error_code, error.context]).to eq(["no", "NOPE", { "a" => 1 }])
    expect(TaskerCore::RetryableError.new("later", retry_after: 2).retry_after).to eq(2)
  end
end
