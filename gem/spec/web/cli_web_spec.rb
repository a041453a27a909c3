# frozen_string_literal: true

require_relative "web_helpers"
require "net/http"
require "io/wait"
require "open3"
require "rbconfig"

# `tasker-core web` as a user runs it: a separate process serving the dashboard on a free
# port against this suite's store, answering pages until TERM; bad options get one line and
# exit status 64.
RSpec.describe "tasker-core web" do
  include WebSpecHelpers

  exe = File.expand_path("../../exe/tasker-core", __dir__)
  lib = File.expand_path("../../lib", __dir__)
  let(:dir) { Dir.mktmpdir("tasker-web-cli") }
  let(:command) { [RbConfig.ruby, "-I", lib, exe, "web"] }

  after do
    release_blocked
    FileUtils.rm_rf(dir)
  end

  it "serves the dashboard of a store until TERM" do
    url = SpecStore.isolated_url("web_cli", dir)
    engine = start_engine(templates: nil, workers: 1, database_url: url)
    engine.register_template(WebSpecHelpers::TEMPLATE, source: "web_order.yaml")
    WebSpecHandler.broken = false
    id = engine.submit_task("web_order", { "mode" => "ok" }, namespace: "web_spec")
    expect(engine.wait_for_task(id, timeout: 20)).to be_complete
    engine.close # one engine process per SQLite file

    Open3.popen3({ "TASKER_DATABASE_URL" => nil, "RACK_ENV" => nil, "RAILS_ENV" => nil, "APP_ENV" => nil },
                 *command, "-d", url, "--port", "0") do |_in, out, err, wait|
      # A server that never says where it listens fails the example instead of hanging CI.
      line = out.wait_readable(60) ? out.gets.to_s : ""
      base = line[%r{http://127\.0\.0\.1:\d+}] or raise "no URL in #{line.inspect}: #{err.read}"
      tasks = Net::HTTP.get_response(URI("#{base}/tasks"))
      expect(tasks.code).to eq("200")
      expect(tasks.body).to include(%(href="/tasks/#{id}"), "web_order")
      expect(Net::HTTP.get_response(URI("#{base}/tasks/#{id}")).body).to include("complete")
      expect(Net::HTTP.get_response(URI("#{base}/tasks/999999")).code).to eq("404")
      Process.kill("TERM", wait.pid)
      expect(wait.value.exitstatus).to eq(0)
    end
  end

  it "refuses to start in production without a CSRF key, saying how to set one" do
    url = SpecStore.isolated_url("web_cli_secret", dir)
    start_engine(templates: nil, workers: 1, database_url: url).close # a store to open
    Open3.popen3({ "TASKER_DATABASE_URL" => nil, "RACK_ENV" => "production", "RAILS_ENV" => nil, "APP_ENV" => nil,
                   "TASKER_WEB_SECRET" => nil }, *command, "-d", url, "--port", "0") do |_in, out, err, wait|
      # Bounded: a server that starts instead of refusing is stopped and fails the example.
      unless wait.join(60)
        Process.kill("TERM", wait.pid)
        wait.join(10)
        raise "tasker-core web started without a key: #{out.read}"
      end
      expect(wait.value.exitstatus).to eq(1)
      expect(err.read).to match(/\Atasker-core web: .*set TASKER_WEB_SECRET/)
      expect(out.read).not_to include("serving")
    end
    # Refused before the store is opened: no SQLite file made, no migration run.
    fresh = File.join(dir, "never_opened.sqlite3")
    _out, err, status = Open3.capture3({ "TASKER_DATABASE_URL" => nil, "RACK_ENV" => "production", "RAILS_ENV" => nil,
                                         "APP_ENV" => nil, "TASKER_WEB_SECRET" => nil },
                                       *command, "-d", "sqlite://#{fresh}", "--port", "0")
    expect([status.exitstatus, err]).to match([1, /set TASKER_WEB_SECRET/])
    expect(File.exist?(fresh)).to be(false)
  end

  it "refuses a bad port or database URL with one line and status 64" do
    _out, err, status = Open3.capture3(*command, "--port", "http")
    expect([status.exitstatus, err]).to match([64, /--port expects an integer >= 0, got "http"/])
    _out, err, status = Open3.capture3(*command, "-d", "mysql://db/x")
    expect([status.exitstatus, err]).to match([64, /--database-url expects sqlite/])
  end
end
