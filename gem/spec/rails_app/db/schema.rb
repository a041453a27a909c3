# frozen_string_literal: true

# The shop's own tables (`bin/rails db:schema:load`). Tasker's tables are not here: the
# engine creates them in the same database when it starts.
ActiveRecord::Schema.define(version: 2024_01_01_000000) do
  create_table :orders, force: :cascade do |t|
    t.string :sku, null: false
    t.integer :quantity, null: false
    t.string :status, null: false, default: "received"
    t.string :tracking
    t.bigint :task_id
    t.timestamps
  end

  create_table :reservations, force: :cascade do |t|
    t.references :order, null: false, foreign_key: true
    t.string :sku, null: false
    t.integer :quantity, null: false
    t.timestamps
  end

  create_table :payments, force: :cascade do |t|
    t.references :order, null: false, foreign_key: true
    t.integer :amount_cents, null: false
    t.string :status, null: false
    t.timestamps
  end
end
