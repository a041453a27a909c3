# frozen_string_literal: true

# `bin/rails runner script/fork_worker.rb` (PostgreSQL; SQLite serves one engine process per
# file): forks a child the way Puma's cluster mode forks
# workers, and has the child fulfil an order with an engine of its own — started by
# `TaskerCore::Rails.after_fork` (what `on_worker_boot` calls), or already by
# `restart_after_fork` (SHOP_RESTART_AFTER_FORK=1). Prints "REPORT {...}".
require "json"

reader, writer = IO.pipe
parent_engine = TaskerCore.engine
child = fork do
  reader.close
  report = { "pid" => Process.pid, "orchestrating_at_fork" => TaskerCore::Rails.orchestrating?,
             "inherited_engine" => TaskerCore.engine.equal?(parent_engine) }
  if report["inherited_engine"]
    begin
      TaskerCore.submit("fulfil_order", { "order_id" => 0, "items" => [{ "sku" => "X", "quantity" => 1 }] },
                        namespace: "shop")
    rescue TaskerCore::Error => e
      report["inherited_submit_error"] = "#{e.class}: #{e.message}"
    end
    TaskerCore::Rails.after_fork # as on_worker_boot would
  end
  order = Order.create!(sku: "FORKED-1", quantity: 1)
  task_id = TaskerCore.submit("fulfil_order", order.fulfilment_context, namespace: "shop")
  result = TaskerCore.engine.wait_for_task(task_id, timeout: 30)
  report.merge!("state" => result.state, "order_status" => order.reload.status, "engine_pid_ok" => !TaskerCore.engine.forked?)
  writer.puts(JSON.generate(report))
  writer.close
end
writer.close
child_report = JSON.parse(reader.read)
_, status = Process.wait2(child)
puts "REPORT #{JSON.generate('child' => child_report, 'child_exit' => status.exitstatus,
                             'parent_orchestrating' => TaskerCore::Rails.orchestrating?)}"
