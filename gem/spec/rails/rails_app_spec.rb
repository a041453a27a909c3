# frozen_string_literal: true

require_relative "support/rails_app"

# The shop app (spec/rails_app), a real Rails 6.1 app on Debian's railties, booted in child
# processes on this run's store: SQLite, or PostgreSQL (TASKER_SPEC_STORE=postgres).
RSpec.describe "A Rails app running workflows", :rails do
  before(:all) do
    @app = RailsApp.new("shop")
    @schema_load = @app.prepare
    @tables_after_schema_load = @app.tasker_tables
  end

  after(:all) { @app&.cleanup }

  let(:app) { @app }

  def step_names(events) = events.grep(/\Astep\./).uniq

  it "loads its schema with db:schema:load without starting the engine" do
    expect(@schema_load).to be_success, @schema_load.stderr
    expect(app.log("test")).not_to include("tasker-core: started")
    # An engine started there would have created Tasker's tables (and, on PostgreSQL, held
    # connections that make db:drop fail).
    expect(@tables_after_schema_load).to be_empty
  end

  it "serves a request that submits a workflow whose handlers write models, reloads an edited handler, and exits on TERM" do
    server = app.start_server
    up = server.get("/up")
    expect(up).to include("orchestrating" => true, "workers" => 4)
    expect(up["database_url"]).to(app.postgres? ? include("search_path%3Dshop") : end_with(".tasker_core.sqlite3"))

    response = server.post("/orders", order: { sku: "WEB-1", quantity: 2 })
    expect(response.code).to eq("202"), response.body
    accepted = JSON.parse(response.body)

    shown = wait_for_order(server, accepted["order_id"])
    aggregate_failures "the first order" do
      expect(shown["task"]).to include("id" => accepted["task_id"], "state" => "complete")
      expect(shown["order"]).to include("status" => "shipped", "task_id" => accepted["task_id"])
      expect(shown["reservations"]).to eq([{ "sku" => "WEB-1", "quantity" => 2 }])
      # The gateway declined the first attempt: the engine retried the step.
      expect(shown["payments"].map { |p| p["status"] }).to eq(%w[declined captured])
      expect(shown["task"]["attempts"]).to include("charge_card" => 1)
      expect(shown["task"]["results"]["notify"]["message"]).to eq("Order #{accepted['order_id']} shipped: #{shown['order']['tracking']}")
      # ActiveSupport::Notifications subscribers saw the lifecycle, retries and the custom event.
      expect(shown["task"]["events"]).to include("task.initialize_requested", "step.completed", "step.failed",
                                                 "step.retry_requested", "shop.payment_captured", "task.completed")
      expect(shown["task"]["events"].last).to eq("task.completed")
    end

    # Development reloads code: the edited handler runs on the next order.
    app.write("app/handlers/shop/notify_customer.rb", <<~RUBY)
      # frozen_string_literal: true

      module Shop
        class NotifyCustomer < TaskerCore::BaseStepHandler
          def process(context)
            order = Order.find(context.task_context.fetch("order_id"))
            { "message" => "Order \#{order.id} is on its way (edited)" }
          end
        end
      end
    RUBY
    second = JSON.parse(server.post("/orders", order: { sku: "WEB-2", quantity: 1 }).body)
    expect(wait_for_order(server, second["order_id"])["task"]["results"]["notify"])
      .to eq("message" => "Order #{second['order_id']} is on its way (edited)")

    status = server.stop("TERM", timeout: 15)
    expect(status).not_to be_nil, "the server did not exit within 15 s of TERM:\n#{server.output}"
    expect(server.stop_seconds).to be < 6
    log = app.log("development")
    expect(log).to include("tasker-core: started in rails server")
    expect(log).to match(/tasker-core: stopped in \d+\.\d+ s/)
    expect(log).to include("tasker-core: step").and include("gateway busy") # the log subscriber, in Rails.logger
  end

  it "runs workflows submitted from code, a model callback's job and the PerformanceCoordinator in `rails runner`, then exits" do
    run = app.rails("runner", "-e", "production", "script/fulfil_orders.rb", timeout: 60)
    expect(run).to be_success, "#{run.stdout}\n#{run.stderr}"
    report = run.report
    expect(report).to include("env" => "production", "orchestrating" => true, "cache_classes" => true)
    expect(report["coordinator"]).to eq("class" => "TaskerCore::TaskResult", "state" => "complete")

    sources = %w[runner order_callback coordinator]
    report["orders"].each_with_index do |order, i|
      aggregate_failures "order #{order['order_id']}" do
        expect(order).to include("status" => "shipped", "task_state" => "complete", "reservations" => 1,
                                 "payments" => %w[captured declined])
        expect(order["results"].keys).to eq(%w[reserve_stock charge_card ship notify])
        expect(order["events"]).to include("task.completed", "step.completed", "shop.payment_captured")
        if app.postgres?
          # The task, read through ActiveRecord from Tasker's tables in the app's database.
          expect(order["row"]).to include("state" => "complete", "order_id" => order["order_id"],
                                          "source_system" => sources[i])
        end
      end
    end
    # The process is gone within the runner's own time: the engine stopped at exit.
    expect(run.seconds).to be < 30
    expect(app.log("production")).to match(/tasker-core: started in rails runner .*1 template: shop\/fulfil_order@1\.0\.0/)
    stops = app.log("production").scan(/tasker-core: stopped in (\d+\.\d+) s/).flatten.map(&:to_f)
    expect(stops).not_to be_empty
    expect(stops).to all(be < 2)
    expect(app.tasker_tables).to include(a_string_matching(/tasker_tasks\z/))
    expect(app.tasker_tables).to all(start_with("shop.")) if app.postgres?
  end

  it "runs handlers written for the Tasker engine unchanged (issue 22's checkout fixture)" do
    run = app.rails("runner", "-e", "production", "script/tasker_checkout.rb", env: { "SHOP_TASKER_COMPAT" => "1" })
    expect(run).to be_success, "#{run.stdout}\n#{run.stderr}"
    report = run.report
    expect(report["compat"]).to end_with("lib/tasker_core/tasker_compat.rb") # loaded by the Railtie
    expect(report["state"]).to eq("complete")
    expect(report["results"]["create_order"]).to include("express" => true, "reserved" => 1)
    expect(report["results"]["send_confirmation"]["steps_seen"].size).to eq(5)
    expect(report["annotations"]).to include("states" => ["complete"])
  end

  it "leaves the engine stopped and the Tasker engine's coordinator in charge when the feature flag is off" do
    run = app.rails("runner", "-e", "production", "script/fulfil_orders.rb", env: { "USE_RUST_ORCHESTRATION" => "false" })
    expect(run).to be_success, "#{run.stdout}\n#{run.stderr}"
    expect(run.report).to include("orchestrating" => false, "enabled" => false,
                                  "coordinator" => { "coordinator" => "tasker-engine", "task_id" => 0 },
                                  "legacy_runs" => [0])
    expect(app.log("production")).to include("tasker-core: disabled")
  end

  it "does not start the engine in a console until asked" do
    console = app.run_child([RbConfig.ruby, "bin/rails", "console", "-e", "production"],
                            stdin: <<~RUBY)
                              puts "BEFORE=\#{TaskerCore::Rails.orchestrating?}"
                              TaskerCore::Rails.start
                              puts "AFTER=\#{TaskerCore::Rails.orchestrating?}"
                            RUBY
    expect(console).to be_success, console.stderr
    expect(console.stdout).to include("BEFORE=false").and include("AFTER=true")
    expect(app.log("production")).to include("tasker-core: started (database")
  end

  it "gives a forked worker an engine of its own, through after_fork or restart_after_fork" do
    # SQLite serves one engine process per file; a forked child running an engine beside
    # its parent is a PostgreSQL set-up (docs/rails.md, "Processes"). On SQLite the child
    # is only checked to refuse the engine it inherited.
    unless app.postgres?
      guard = app.rails("runner", "-e", "production", <<~RUBY)
        reader, writer = IO.pipe
        pid = fork do
          TaskerCore.submit("fulfil_order", {})
        rescue TaskerCore::OrchestrationError => e
          writer.puts(e.message)
        ensure
          writer.close
          exit!(0)
        end
        writer.close
        puts "CHILD: \#{reader.read}"
        Process.wait(pid)
      RUBY
      expect(guard).to be_success, guard.stderr
      expect(guard.stdout).to include("is a fork of it").and include("TaskerCore.after_fork")
      next
    end

    explicit = app.rails("runner", "-e", "production", "script/fork_worker.rb")
    expect(explicit).to be_success, "#{explicit.stdout}\n#{explicit.stderr}"
    report = explicit.report
    expect(report).to include("child_exit" => 0, "parent_orchestrating" => true)
    expect(report["child"]).to include("orchestrating_at_fork" => false, "inherited_engine" => true,
                                       "state" => "complete", "order_status" => "shipped", "engine_pid_ok" => true)
    expect(report["child"]["inherited_submit_error"]).to start_with("TaskerCore::OrchestrationError: ")
      .and include("is a fork of it")

    automatic = app.rails("runner", "-e", "production", "script/fork_worker.rb", env: { "SHOP_RESTART_AFTER_FORK" => "true" })
    expect(automatic).to be_success, "#{automatic.stdout}\n#{automatic.stderr}"
    expect(automatic.report["child"]).to include("orchestrating_at_fork" => true, "inherited_engine" => false,
                                                 "state" => "complete", "order_status" => "shipped")
    log = app.log("production")
    expect(log).to include("tasker-core: restarted after fork in pid #{automatic.report['child']['pid']}")
  end

  it "runs a worker process with `bin/rails tasker_core:work`, even where the app's web processes are clients, until TERM" do
    # The app's processes are configured as clients (web processes that only submit); the
    # task still runs a worker, and the initializer's autostart starts no engine beside it.
    worker = app.start_child("tasker_core:work", env: { "SHOP_TASKER_ROLE" => "client" },
                                                 ready: /tasker-core: worker ready/, timeout: 90)
    expect(worker.stdout).to match(/worker ready: pid #{worker.pid}, database .*, 4 handler threads, 1 template: shop\/fulfil_order@1\.0\.0/)
    if app.postgres?
      expect(app.query("SELECT role FROM shop.tasker_core_processes WHERE pid = #{worker.pid}").split).to eq(["worker"])

      server = app.start_server(env: { "SHOP_TASKER_ROLE" => "client" })
      expect(server.get("/up")).to include("orchestrating" => true, "workers" => nil)
      response = server.post("/orders", order: { sku: "WORKER-1", quantity: 3 })
      expect(response.code).to eq("202"), response.body
      accepted = JSON.parse(response.body)
      shown = wait_for_task_state(server, accepted["order_id"], "complete")
      # The worker's handlers wrote the rows: the web process runs none.
      expect(shown["order"]).to include("status" => "shipped", "task_id" => accepted["task_id"])
      expect(shown["payments"].map { |p| p["status"] }).to eq(%w[declined captured])
      expect(shown["reservations"]).to eq([{ "sku" => "WORKER-1", "quantity" => 3 }])
      expect(server.stop("TERM", timeout: 30)).not_to be_nil, server.output
    end

    status = worker.stop("TERM", timeout: 60)
    expect(status).not_to be_nil, "tasker_core:work did not exit within 60 s of TERM:\n#{worker.output}"
    expect(status.exitstatus).to eq(0), worker.output
    expect(worker.stdout).to include("TERM received: stopping").and match(/tasker-core: stopped in \d+\.\d+ s\n/)
    expect(app.log("development")).to include("tasker-core: started in rake tasker_core:work")
    if app.postgres?
      # A graceful stop hands everything back: no process row, no claim left behind.
      expect(app.query("SELECT count(*) FROM shop.tasker_core_processes WHERE pid = #{worker.pid}").strip).to eq("0")
      expect(app.query("SELECT count(*) FROM shop.tasker_core_task_claims").strip).to eq("0")
    end
  end

  it "deletes old finished tasks with `bin/rails tasker_core:cleanup`, and asks for an age when none is set" do
    run = app.rails("tasker_core:cleanup", env: { "OLDER_THAN" => "0", "BATCH_SIZE" => "50" })
    expect(run).to be_success, "#{run.stdout}\n#{run.stderr}"
    expect(run.stdout).to match(/tasker-core: deleted \d+ finished tasks \(\d+ steps\) older than 0\.0 s/)
    again = app.rails("tasker_core:cleanup", env: { "OLDER_THAN" => "0" })
    expect(again.stdout).to include("deleted 0 finished tasks (0 steps)")

    missing = app.rails("tasker_core:cleanup")
    expect(missing).not_to be_success
    expect(missing.stderr).to include("tasker_core:cleanup needs an age: set config.tasker_core.retention or OLDER_THAN=seconds")
  end

  it "refuses to boot with a bad setting, naming it" do
    run = app.rails("runner", "-e", "production", "puts :booted", env: { "SHOP_TASKER_WORKERS" => "-1" })
    expect(run).not_to be_success
    expect(run.stderr).to include("TaskerCore::ConfigurationError")
      .and include("config.tasker_core.workers must be an Integer >= 0, got -1")

    missing = app.rails("runner", "-e", "production", "puts :booted", env: { "SHOP_TASKER_TEMPLATES" => "config/tasker/nowhere" })
    expect(missing).not_to be_success
    expect(missing.stderr).to include("config.tasker_core.templates: #{app.root}/config/tasker/nowhere does not exist")
  end

  unless SpecStore.postgres?
    it "refuses to open ActiveRecord's own SQLite file, which two copies of SQLite in one process would corrupt" do
      run = app.rails("runner", "-e", "production", "puts :booted", env: { "TASKER_DATABASE_URL" => "sqlite://#{app.database}" })
      expect(run).not_to be_success
      expect(run.stderr).to include("TASKER_DATABASE_URL names ActiveRecord's own SQLite file #{app.database}")
    end
  end

  # Polls GET /orders/:id until its task is in `state` (or ended otherwise).
  def wait_for_task_state(server, order_id, state, timeout: 90)
    deadline = monotonic + timeout
    loop do
      shown = server.get("/orders/#{order_id}")
      # The controller reads the order before the task, so a task that finished between the
      # two reads shows its order as it was before the last handler wrote it (seen once in
      # CI: "complete" beside a "reserved" order). Once the state is reached, read again.
      return server.get("/orders/#{order_id}") if shown.dig("task", "state") == state
      raise "order #{order_id}'s task ended #{shown.dig('task', 'state')}: #{shown}" if %w[error cancelled].include?(shown.dig("task", "state"))
      raise "order #{order_id} not #{state} after #{timeout} s: #{shown}\n#{server.output}" if monotonic > deadline

      sleep 0.2
    end
  end

  def wait_for_order(server, order_id, timeout: 30)
    deadline = monotonic + timeout
    loop do
      shown = server.get("/orders/#{order_id}")
      state = shown.dig("task", "state")
      # Read again once done, as wait_for_task_state does: the order was read before the task.
      done = state == "error" || (state == "complete" && shown["task"]["events"].include?("task.completed"))
      return server.get("/orders/#{order_id}") if done
      raise "order #{order_id} not done after #{timeout} s: #{shown}\n#{server.output}" if monotonic > deadline

      sleep 0.1
    end
  end
end
