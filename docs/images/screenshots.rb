# frozen_string_literal: true

# Makes the dashboard screenshots README.md and docs/web.md show (web_task.png, the task page
# of a failed order; web_overview.png, the overview), the way the browser spec takes its own
# (gem/spec/web/dashboard_browser_spec.rb): a real engine on a SQLite file of its own, the
# dashboard on WEBrick on a free port, headless Chromium (Debian's chromium + chromium-driver,
# through selenium-webdriver). It only writes the two PNGs; it tests nothing.
#
#   ruby docs/images/screenshots.rb     (after `rake compile`)

ROOT = File.expand_path("../..", __dir__)
$LOAD_PATH.unshift(File.join(ROOT, "gem/lib"))
require "tasker_core"
require "tasker_core/web"
require "selenium-webdriver"
require "tmpdir"

# The order handlers of the pictures: every step succeeds after a short pause except
# charge_card of the order marked to fail.
module Shots
  # A step that takes a moment and succeeds.
  class Work < TaskerCore::BaseStepHandler
    def process(_context)
      sleep 0.05
      { "ok" => true }
    end
  end

  # Fails the order whose context says so.
  class ChargeCard < TaskerCore::BaseStepHandler
    def process(context)
      sleep 0.05
      raise TaskerCore::PermanentError, "Gateway timeout: the card processor did not answer within 5 s" if context.task_context["fail"]

      { "charge_id" => "ch_#{context.task_context['order_id']}" }
    end
  end

  TEMPLATE = <<~YAML
    name: fulfil_order
    namespace_name: shop
    version: 1.2.0
    step_templates:
      - { name: validate_order, handler_class: Shots::Work }
      - { name: reserve_stock, handler_class: Shots::Work, depends_on_step: validate_order }
      - { name: charge_card, handler_class: Shots::ChargeCard, depends_on_step: validate_order, default_retry_limit: 2 }
      - { name: update_crm, handler_class: Shots::Work, depends_on_step: validate_order }
      - { name: pack_parcel, handler_class: Shots::Work, depends_on_steps: [reserve_stock, charge_card] }
      - { name: ship, handler_class: Shots::Work, depends_on_step: pack_parcel }
      - { name: notify_customer, handler_class: Shots::Work, depends_on_step: ship }
  YAML

  module_function

  def run
    Dir.mktmpdir("tasker-shots") do |dir|
      engine = TaskerCore::Engine.start(templates: nil, workers: 4, database_url: "sqlite://#{dir}/shots.sqlite3",
                                        recover: false, instrument: false, backoff_scale: 0.001)
      engine.register_template(TEMPLATE, source: "fulfil_order.yaml")
      ids = (1..12).map do |n|
        engine.submit_task("fulfil_order", { "order_id" => 1030 + n, "customer" => "c-#{n}", "fail" => n == 12 },
                           namespace: "shop")
      end
      ids.each { |id| engine.wait_for_task(id, timeout: 60) }
      engine.flush
      shoot(engine, ids.last)
      engine.close
    end
  end

  def shoot(engine, failed)
    server = TaskerCore::Web::Server.new(TaskerCore::Web::App.new(engine: engine, secret: "shots-#{'s' * 32}")).start
    options = Selenium::WebDriver::Chrome::Options.new(
      args: %w[--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --window-size=1100,1200 --lang=en-US]
    )
    options.binary = "/usr/bin/chromium"
    driver = Selenium::WebDriver.for(:chrome, options: options,
                                              service: Selenium::WebDriver::Service.chrome(path: "/usr/bin/chromedriver"))
    { "web_task.png" => "/tasks/#{failed}", "web_overview.png" => "/" }.each do |file, path|
      driver.navigate.to("#{server.url}#{path}")
      height = driver.execute_script("return document.documentElement.scrollHeight")
      driver.manage.window.resize_to(1100, [[height, 600].max, 1210].min)
      driver.save_screenshot(File.join(__dir__, file))
      puts "wrote docs/images/#{file} (#{path})"
    end
  ensure
    driver&.quit
    server&.stop
  end
end

Shots.run if $PROGRAM_NAME == __FILE__
