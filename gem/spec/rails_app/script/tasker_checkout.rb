# frozen_string_literal: true

# `SHOP_TASKER_COMPAT=1 bin/rails runner script/tasker_checkout.rb`: runs the Tasker-style
# checkout (fixtures/tasker_compat) in this app and prints what it saw as one JSON line.
require "json"

engine = TaskerCore.engine
context = { "cart_items" => [{ "product_id" => 1, "quantity" => 3 }], "customer_info" => { "email" => "ada@example.test" } }
id = TaskerCore.submit("process_checkout", context, namespace: "ecommerce")
result = engine.wait_for_task(id, timeout: 30)
deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 10
sleep 0.05 until TaskerCompat::MockServices.annotations[id] || Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
report = { "state" => result.state, "results" => result.results, "annotations" => TaskerCompat::MockServices.annotations[id],
           "compat" => Tasker::StepHandler::Base.instance_method(:handle).source_location.first }
puts "REPORT #{JSON.generate(report)}"
$stdout.flush
