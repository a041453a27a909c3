# frozen_string_literal: true

# POST /orders stores an order and submits its fulfil_order workflow, answering 202 at once;
# GET /orders/:id shows the order, its rows, its task and the events seen so far.
class OrdersController < ApplicationController
  # POST /orders {"order": {"sku", "quantity"}} → 202 {"order_id", "task_id"}
  def create
    order = Order.create!(params.require(:order).permit(:sku, :quantity))
    # durable: the 202 promises the work, so it is answered once the task is committed.
    task_id = Shop::FulfilOrder.new.submit(order.fulfilment_context, durable: true, source_system: "web",
                                                                     initiator: "orders#create")
    order.update!(task_id: task_id)
    render json: { order_id: order.id, task_id: task_id }, status: :accepted
  end

  # GET /orders/:id
  def show
    order = Order.find(params[:id])
    render json: {
      order: order.slice(:id, :sku, :quantity, :status, :tracking, :task_id),
      reservations: order.reservations.map { |r| r.slice(:sku, :quantity) },
      payments: order.payments.order(:id).map { |p| p.slice(:amount_cents, :status) },
      task: order.task_id && task_json(order.task_id)
    }
  end

  private

  def task_json(task_id)
    result = TaskerCore.engine.task_result(task_id)
    { id: task_id, state: result.state, results: result.results,
      attempts: result.steps.to_h { |s| [s.name, s.attempts] },
      events: TaskerEventLog.for_task(task_id) }
  end
end
