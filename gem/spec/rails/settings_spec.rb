# frozen_string_literal: true

# TaskerCore::Rails::Configuration and DatabaseUrl need no Rails: they are loaded into this
# process for their examples and removed after, so no other spec finds a TaskerCore::Rails
# (code inside `module TaskerCore` that says `Rails` would).
RSpec.describe "TaskerCore::Rails settings", :rails do
  lib = File.expand_path("../../lib/tasker_core/rails", __dir__)

  before(:all) do
    load File.join(lib, "configuration.rb")
    load File.join(lib, "database_url.rb")
  end

  after(:all) { TaskerCore.send(:remove_const, :Rails) if TaskerCore.const_defined?(:Rails, false) }

  describe "Configuration" do
    subject(:config) { TaskerCore::Rails::Configuration.new }

    it "starts from defaults that run handlers on threads inside the Rails reloader" do
      expect(config.to_h).to include(enabled: true, autostart: :auto, database_url: nil, templates: nil, workers: 4,
                                     ractors: 0, executor: :reloader, instrument: true, recover: true,
                                     restart_after_fork: false)
      expect(config.skip_tasks).to include("db:*", "assets:*")
    end

    it "takes the feature flag as a Boolean or as the text of an environment variable" do
      config.use_rust_orchestration = "false"
      expect(config.enabled).to be(false)
      config.enabled = "TRUE"
      expect(config.use_rust_orchestration).to be(true)
      expect { config.enabled = "maybe" }
        .to raise_error(TaskerCore::ConfigurationError, 'config.tasker_core.enabled must be true or false, got "maybe"')
    end

    it "refuses bad values with an error naming the setting" do
      expect { config.workers = -1 }
        .to raise_error(TaskerCore::ConfigurationError, "config.tasker_core.workers must be an Integer >= 0, got -1")
      expect { config.batch_size = "lots" }.to raise_error(TaskerCore::ConfigurationError, /config\.tasker_core\.batch_size/)
      expect { config.autostart = :sometimes }.to raise_error(TaskerCore::ConfigurationError, /config\.tasker_core\.autostart/)
      expect { config.executor = :fibers }.to raise_error(TaskerCore::ConfigurationError, /config\.tasker_core\.executor/)
      expect { config.shutdown_timeout = 0 }.to raise_error(TaskerCore::ConfigurationError, /shutdown_timeout/)
      expect { config.templates = [42] }.to raise_error(TaskerCore::ConfigurationError, /config\.tasker_core\.templates/)
      expect { config.database_url = "mysql2://root:hunter2@db/shop" }
        .to raise_error(TaskerCore::ConfigurationError, %r{config\.tasker_core\.database_url .*got mysql2://root:\*\*\*@db/shop})
    end

    it "takes the settings of several processes on one database, checked like the others" do
      expect(config.to_h).to include(role: :worker, lease_timeout: nil, heartbeat_interval: nil, claim_interval: 1.0,
                                     max_tasks: nil)
      config.role = "client"
      config.lease_timeout = "20"
      config.heartbeat_interval = 2
      config.claim_interval = 0.25
      config.max_tasks = "50"
      expect(config.to_h).to include(role: :client, lease_timeout: 20.0, heartbeat_interval: 2, claim_interval: 0.25,
                                     max_tasks: 50)
      expect { config.role = :web }
        .to raise_error(TaskerCore::ConfigurationError, "config.tasker_core.role must be :worker or :client, got :web")
      expect { config.lease_timeout = 0 }.to raise_error(TaskerCore::ConfigurationError, /config\.tasker_core\.lease_timeout/)
      expect { config.heartbeat_interval = "often" }
        .to raise_error(TaskerCore::ConfigurationError, /config\.tasker_core\.heartbeat_interval/)
      expect { config.claim_interval = nil }.to raise_error(TaskerCore::ConfigurationError, /config\.tasker_core\.claim_interval/)
      expect { config.max_tasks = 0 }
        .to raise_error(TaskerCore::ConfigurationError, "config.tasker_core.max_tasks must be an Integer >= 1, got 0")
    end

    it "takes the retention settings, checked like the others" do
      expect(config.to_h).to include(retention: nil, retention_interval: nil, retention_batch: nil)
      config.retention = "604800"
      config.retention_interval = 30
      config.retention_batch = "500"
      expect(config.to_h).to include(retention: 604_800.0, retention_interval: 30.0, retention_batch: 500)
      expect { config.retention = "a week" }.to raise_error(TaskerCore::ConfigurationError, /config\.tasker_core\.retention /)
      expect { config.retention_interval = 0 }
        .to raise_error(TaskerCore::ConfigurationError, /config\.tasker_core\.retention_interval/)
      expect { config.retention_batch = 0 }
        .to raise_error(TaskerCore::ConfigurationError, "config.tasker_core.retention_batch must be an Integer >= 1, got 0")
      expect(config.retention).to eq(604_800.0)
    end

    it "takes schedules, refusing a bad one by name when assigned" do
      expect(config.to_h).to include(schedules: nil)
      nightly = { "nightly_report" => { cron: "0 2 * * *", task: "report", context: { "kind" => "daily" } } }
      config.schedules = nightly
      expect(config.to_h).to include(schedules: nightly)
      expect { config.schedules = { "x" => { cron: "0 2 * * *" } } }
        .to raise_error(TaskerCore::ConfigurationError, /schedule "x": task:/)
      expect { config.schedules = { "y" => { cron: 5, task: "report" } } }
        .to raise_error(TaskerCore::ConfigurationError, /schedule "y": cron:/)
      expect { config.schedules = ["0 2 * * *"] }.to raise_error(TaskerCore::ConfigurationError, /schedules: expected a Hash/)
      expect(config.schedules).to eq(nightly)
    end

    it "takes concurrency limits, naming a bad entry" do
      expect(config.concurrency).to be_nil
      config.concurrency = { handlers: { "Pay" => 2 }, namespaces: { billing: 5 } }
      expect(config.to_h[:concurrency]).to eq("handlers" => { "Pay" => 2 }, "namespaces" => { "billing" => 5 })
      expect { config.concurrency = { handlers: { "Pay" => 0 } } }
        .to raise_error(TaskerCore::ConfigurationError, /\Aconfig\.tasker_core\.concurrency handlers\.Pay: expected an Integer/)
      expect { config.concurrency = { lanes: {} } }
        .to raise_error(TaskerCore::ConfigurationError, /concurrency lanes: unknown group/)
    end

    it "refuses unknown settings, listing the known ones" do
      expect { config.wrokers = 8 }
        .to raise_error(TaskerCore::ConfigurationError, /config\.tasker_core\.wrokers is not a setting; the settings are: enabled, /)
      expect(config).not_to respond_to(:wrokers=)
    end

    it "keeps good values in the forms the engine takes" do
      config.workers = "8"
      config.templates = "config/workflows"
      config.executor = "executor"
      config.autostart = "false"
      config.database_url = "postgres://app:secret@db/shop"
      expect(config.to_h).to include(workers: 8, templates: ["config/workflows"], executor: :executor, autostart: false,
                                     database_url: "postgres://app:***@db/shop")
    end
  end

  describe "DatabaseUrl" do
    def url(config) = TaskerCore::Rails::DatabaseUrl.from_active_record(config, root: "/srv/shop")

    it "points the engine at the app's PostgreSQL database, schema search path included" do
      expect(url(adapter: "postgresql", host: "db.internal", port: 5433, username: "shop", password: "p@ss word",
                 database: "shop_production", schema_search_path: "shop, public", sslmode: "require"))
        .to eq("postgres://shop:p%40ss%20word@db.internal:5433/shop_production" \
               "?options=-c%20search_path%3Dshop%2Cpublic&sslmode=require")
      expect(url("adapter" => "postgresql", "database" => "shop")).to eq("postgres:///shop")
      # No host, or a socket directory: like libpq, the engine then finds the server itself.
      expect(url(adapter: "postgresql", username: "shop", database: "shop")).to eq("postgres:///shop?user=shop")
      expect(url(adapter: "postgis", host: "/var/run/postgresql", port: 5433, database: "geo"))
        .to eq("postgres:///geo?host=%2Fvar%2Frun%2Fpostgresql&port=5433")
    end

    it "gives the engine its own SQLite file beside the app's, never the app's file" do
      expect(url(adapter: "sqlite3", database: "db/development.sqlite3"))
        .to eq("sqlite:///srv/shop/db/development.tasker_core.sqlite3")
      expect(url(adapter: "sqlite3", database: "/data/shop.db")).to eq("sqlite:///data/shop.tasker_core.db")
      expect { url(adapter: "sqlite3", database: ":memory:") }
        .to raise_error(TaskerCore::ConfigurationError, /in-memory SQLite .*config\.tasker_core\.database_url/)
    end

    it "says which setting to use for a database the engine cannot open" do
      expect { url(adapter: "mysql2", database: "shop") }
        .to raise_error(TaskerCore::ConfigurationError,
                        "ActiveRecord's database uses the mysql2 adapter; tasker-core stores tasks in PostgreSQL or " \
                        "SQLite: set config.tasker_core.database_url")
      expect { url(adapter: "postgresql") }.to raise_error(TaskerCore::ConfigurationError, /names no database/)
    end

    it "reads the file a sqlite URL names" do
      expect(TaskerCore::Rails::DatabaseUrl.sqlite_path("sqlite:///srv/shop/db/x.sqlite3?mode=rwc")).to eq("/srv/shop/db/x.sqlite3")
      expect(TaskerCore::Rails::DatabaseUrl.sqlite_path("sqlite::memory:")).to be_nil
      expect(TaskerCore::Rails::DatabaseUrl.sqlite_path("postgres://db/shop")).to be_nil
    end
  end
end
