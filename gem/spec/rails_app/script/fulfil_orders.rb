# frozen_string_literal: true

# `bin/rails runner script/fulfil_orders.rb`: fulfils orders submitted three ways — from
# code, from a model callback through TaskerCore::SubmitTaskJob, and through the
# PerformanceCoordinator — waits for them, and prints what it saw as one JSON line
# ("REPORT {...}"). With USE_RUST_ORCHESTRATION=false it shows the fallback instead.
require "json"

def wait_until(seconds)
  deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
  until (value = yield)
    raise "timed out after #{seconds} s" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

    sleep 0.05
  end
  value
end

def order_report(order, engine)
  order.reload
  result = engine.wait_for_task(order.task_id, timeout: 30)
  # Events reach ActiveSupport::Notifications on a dispatcher thread of their own, a moment
  # after the commit that wait_for_task returns on.
  wait_until(10) { TaskerEventLog.for_task(order.task_id).include?("task.completed") }
  { "order_id" => order.id, "status" => order.status, "tracking" => order.tracking, "task_id" => order.task_id,
    "task_state" => result.state, "results" => result.results,
    "reservations" => order.reservations.count, "payments" => order.payments.pluck(:status).sort,
    "events" => TaskerEventLog.for_task(order.task_id), "row" => tasker_row(order.task_id) }
end

# The same task read through ActiveRecord from Tasker's tables, as the Tasker engine's
# models read it. On PostgreSQL they sit in the app's database; on SQLite the engine keeps
# a file of its own, which ActiveRecord must not open in this process (DatabaseUrl says why).
def tasker_row(task_id)
  return nil unless ActiveRecord::Base.connection.adapter_name == "PostgreSQL"

  row = Tasker::Task.find(task_id)
  { "state" => row.current_state, "order_id" => row.context_hash["order_id"], "source_system" => row.source_system }
end

report = { "pid" => Process.pid, "env" => Rails.env, "orchestrating" => TaskerCore::Rails.orchestrating?,
           "enabled" => TaskerCore::Rails.enabled?, "cache_classes" => Rails.application.config.cache_classes }

if TaskerCore::Rails.orchestrating?
  engine = TaskerCore.engine
  report["database_url"] = engine.database_url

  # 1. From code (a controller, a service): the id comes back at once.
  direct = Order.create!(sku: "RUNNER-1", quantity: 2)
  direct.update!(task_id: TaskerCore.submit("fulfil_order", direct.fulfilment_context, namespace: "shop",
                                                                                       source_system: "runner"))

  # 2. From a model callback, through ActiveJob (the async adapter, in this process).
  later = Order.create!(sku: "JOB-1", quantity: 1, fulfil_later: true)
  wait_until(20) { later.reload.task_id }

  # 3. Through the PerformanceCoordinator: tasker-core drives a pending task on this thread.
  coordinated = Order.create!(sku: "COORD-1", quantity: 3)
  coordinated.update!(task_id: engine.create_task("fulfil_order", coordinated.fulfilment_context, namespace: "shop",
                                                                                                  source_system: "coordinator"))
  coordinator_result = Tasker::PerformanceCoordinator.new.execute_task_workflow(coordinated.task_id)
  report["coordinator"] = { "class" => coordinator_result.class.name, "state" => coordinator_result.state }

  engine.flush
  report["orders"] = [direct, later, coordinated].map { |o| order_report(o, engine) }
  # Events of the last steps may still be on their way to the subscribers.
  wait_until(10) { report["orders"].all? { |o| TaskerEventLog.for_task(o["task_id"]).include?("task.completed") } }
  report["orders"].each { |o| o["events"] = TaskerEventLog.for_task(o["task_id"]) }
else
  report["coordinator"] = Tasker::PerformanceCoordinator.new.execute_task_workflow(0)
  report["legacy_runs"] = Tasker::WorkflowCoordinator.runs
end

puts "REPORT #{JSON.generate(report)}"
$stdout.flush
