# frozen_string_literal: true

require "yaml"
require_relative "support/rails_app"

# `rails generate tasker_core:install` run into a fresh app made by `rails new`, in child
# processes; then the generated example runs there as written.
RSpec.describe "rails generate tasker_core:install", :rails do
  before(:all) do
    @dir = Dir.mktmpdir("tasker-rails-new")
    adapter = SpecStore.postgres? ? "postgresql" : "sqlite3"
    created = system(RbConfig.ruby, Gem.bin_path("railties", "rails"), "new", "fresh", "--minimal", "--skip-bundle", "--skip-git", "--skip-javascript",
                     "--skip-bootsnap", "--skip-sprockets", "--skip-test", "--skip-system-test", "--skip-action-cable",
                     "--skip-spring", "--skip-listen", "-d", adapter, chdir: @dir, out: File::NULL, err: File::NULL)
    raise "rails new failed" unless created

    root = File.join(@dir, "fresh")
    # What Bundler would do for a Gemfile listing tasker-core-rb: there is no Bundler
    # install offline, so the app loads the system's gems and this checkout's lib.
    File.write(File.join(root, "config/boot.rb"), "$LOAD_PATH.unshift(ENV.fetch(\"TASKER_CORE_LIB\"))\n")
    application = File.join(root, "config/application.rb")
    File.write(application, File.read(application).sub("Bundler.require(*Rails.groups)", 'require "tasker_core"'))
    @app = RailsApp.new("fresh", source: root)
    FileUtils.rm_rf(@dir)
    # The fresh app's database: on PostgreSQL one of its own, through DATABASE_URL (Rails
    # merges it into database.yml); on SQLite db/development.sqlite3 as generated.
    @database_env = {}
    if SpecStore.postgres?
      RailsApp.psql("postgres", "DROP DATABASE IF EXISTS #{@app.database}", "CREATE DATABASE #{@app.database}")
      @database_env = { "DATABASE_URL" => SpecStore::PG_URL.sub(%r{/[^/?]*(\?|\z)}, "/#{@app.database}\\1") }
    end
    @generated = @app.rails("generate", "tasker_core:install", env: @database_env)
    # What generating left behind, before the examples start the app.
    @log_after_generate = @app.log("development")
    @tables_after_generate = SpecStore.postgres? ? @app.tasker_tables : []
    @sqlite_files_after_generate = Dir.glob(File.join(@app.root, "db", "*.sqlite3"))
  end

  after(:all) { @app&.cleanup }

  let(:database_env) { @database_env }

  let(:app) { @app }

  def read(path) = File.read(File.join(app.root, path))

  it "writes the initializer, an example template and its handlers" do
    expect(@generated).to be_success, @generated.stderr
    expect(@generated.stdout).to match(%r{create\s+config/initializers/tasker_core\.rb})
      .and match(%r{create\s+config/tasker/tasks/example/welcome\.yaml})
      .and match(%r{create\s+app/handlers/example/compose_greeting\.rb})
      .and match(%r{create\s+app/handlers/example/deliver_greeting\.rb})

    initializer = read("config/initializers/tasker_core.rb")
    expect(initializer).to include("TaskerCore.configure do |config|")
      .and include('config.enabled = ENV.fetch("USE_RUST_ORCHESTRATION", "true")')
      .and include("config.workers = 4")
    template = YAML.safe_load(read("config/tasker/tasks/example/welcome.yaml"))
    expect(template).to include("name" => "welcome", "namespace_name" => "example")
    expect(template["step_templates"].map { |s| s["handler_class"] })
      .to eq(%w[Example::ComposeGreeting Example::DeliverGreeting])
    expect(read("app/handlers/example/compose_greeting.rb")).to include("class ComposeGreeting < TaskerCore::BaseStepHandler")
    expect(read("app/handlers/example/deliver_greeting.rb")).to include("class DeliverGreeting < TaskerCore::BaseStepHandler")
  end

  it "does not start the engine while generating" do
    expect(@log_after_generate).to include("tasker-core: not started in rails generate")
    expect(@log_after_generate).not_to include("tasker-core: started")
    expect(@tables_after_generate).to be_empty
    expect(@sqlite_files_after_generate).to be_empty
  end

  it "changes nothing when run again" do
    again = app.rails("generate", "tasker_core:install", env: database_env)
    expect(again).to be_success, again.stderr
    expect(again.stdout.scan(/^\s*identical\s/).size).to eq(4)
    expect(again.stdout).not_to match(/^\s*(create|force|conflict)\s/)
  end

  it "gives an app whose example workflow runs in `rails runner`" do
    script = <<~RUBY
      id = TaskerCore.submit("welcome", { "name" => "Ada" }, namespace: "example")
      result = TaskerCore.engine.wait_for_task(id, timeout: 20)
      puts "RESULT " + JSON.generate("state" => result.state, "results" => result.results)
    RUBY
    run = app.rails("runner", script, env: database_env)
    expect(run).to be_success, "#{run.stdout}\n#{run.stderr}"
    result = JSON.parse(run.stdout[/^RESULT (.*)$/, 1])
    expect(result).to eq("state" => "complete",
                         "results" => { "compose_greeting" => { "greeting" => "Hello, Ada!" },
                                        "deliver_greeting" => { "delivered_via" => "log", "greeting" => "Hello, Ada!" } })
    log = app.log("development")
    expect(log).to include("tasker-core: started in rails runner").and include("Hello, Ada! (task ")
    expect(log).to match(/tasker-core: stopped in/)
  end
end
