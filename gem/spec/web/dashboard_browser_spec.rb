# frozen_string_literal: true

require_relative "web_helpers"
require "fileutils"
require "net/http"

# The dashboard in a real browser: the Rack app on WEBrick on a free port, a real engine
# with one complete task, one in error and one running, and headless Chromium (Debian's
# chromium + chromium-driver, through selenium-webdriver) clicking through it. Each page's
# screenshot is saved under gem/tmp/screenshots/ (test artifacts, not committed).
#
# One browser for the whole file: starting Chromium costs more than the pages.
RSpec.describe "The dashboard in Chromium" do
  include WebSpecHelpers

  CHROMIUM = "/usr/bin/chromium"
  CHROMEDRIVER = "/usr/bin/chromedriver"
  SCREENSHOTS = File.expand_path("../../tmp/screenshots", __dir__)

  before(:context) do
    missing = [CHROMIUM, CHROMEDRIVER].reject { |p| File.executable?(p) }
    # Loud, not skipped: CI must not pass without the browser test having run.
    raise "the browser spec needs #{missing.join(' and ')}: run bin/setup (Debian: chromium chromium-driver)" if missing.any?

    require "selenium-webdriver"
    FileUtils.mkdir_p(SCREENSHOTS)
    options = Selenium::WebDriver::Chrome::Options.new(
      args: %w[--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --window-size=1280,1100 --lang=en-US]
    )
    options.binary = CHROMIUM
    service = Selenium::WebDriver::Service.chrome(path: CHROMEDRIVER)
    @driver = Selenium::WebDriver.for(:chrome, options: options, service: service)
  end

  after(:context) { @driver&.quit }

  after do
    release_blocked
    @server&.stop
  end

  attr_reader :driver

  def visit(path) = driver.navigate.to("#{@server.url}#{path}")

  def screenshot(name)
    # The whole page, not just the window: resize to the document's height first.
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.manage.window.resize_to(1280, [[height, 600].max, 4000].min)
    driver.save_screenshot(File.join(SCREENSHOTS, "#{name}.png"))
    driver.manage.window.resize_to(1280, 1100)
  end

  # Waits for the block to return something truthy; a confirm() not open yet is waited for too.
  def wait_for(seconds = 20, &block)
    ignored = [Selenium::WebDriver::Error::NoSuchElementError, Selenium::WebDriver::Error::NoSuchAlertError]
    Selenium::WebDriver::Wait.new(timeout: seconds, interval: 0.02, ignore: ignored).until(&block)
  end

  it "shows the pages, marks the failed step, retries it to completion, and refuses a POST without a token" do
    engine, ids = engine_with_tasks
    app = TaskerCore::Web::App.new(engine: engine, secret: "browser-spec-#{'s' * 32}")
    @server = TaskerCore::Web::Server.new(app).start

    visit "/"
    expect(driver.find_element(css: "#health").text).to include("error", "complete", "in_progress")
    expect(driver.find_elements(css: "svg.chart rect")).not_to be_empty
    screenshot "overview"

    visit "/tasks"
    listed = driver.find_elements(css: "#tasks tr td:first-child a").map(&:text).map(&:to_i)
    expect(listed).to eq([ids[:running], ids[:error], ids[:complete]])
    screenshot "tasks"

    visit "/tasks/#{ids[:running]}"
    expect(driver.find_element(css: "h1").text).to include("in_progress")
    screenshot "task_running"

    visit "/processes"
    expect(driver.find_element(css: "h1").text).to eq("Processes")
    screenshot "processes"

    # The failed task: its DAG is SVG and the failed step is marked on it.
    visit "/tasks/#{ids[:error]}"
    failed = driver.find_element(css: "#dag svg g.step.failed[data-step='charge']")
    expect(failed.attribute("class")).to include("state-error")
    expect(driver.find_element(css: "#step-card-#{engine.task(ids[:error]).steps.find_by(name: 'charge').step_id}").text)
      .to include("last error")
    screenshot "task_error"

    # A POST from the page's own session but without the form's token: refused, nothing changes.
    status = driver.execute_script(<<~JS, "#{@server.url}/tasks/#{ids[:running]}/cancel")
      var x = new XMLHttpRequest(); x.open("POST", arguments[0], false);
      x.setRequestHeader("Content-Type", "application/x-www-form-urlencoded");
      x.send("reason=forged"); return x.status;
    JS
    expect(status).to eq(403)
    expect(engine.task(ids[:running]).current_state).to eq("in_progress")

    # Dismissing the confirm() sends nothing.
    visit "/tasks/#{ids[:running]}"
    driver.find_element(css: "form.action[action$='/cancel'] button").click
    wait_for { driver.switch_to.alert }.dismiss
    expect(driver.find_elements(css: "#flash")).to be_empty
    expect(engine.task(ids[:running]).current_state).to eq("in_progress")

    # The cause is fixed; retrying the failed step from the page completes the task.
    WebSpecHandler.broken = false
    visit "/tasks/#{ids[:error]}"
    form = driver.find_element(css: "form.action[action$='/retry']")
    form.find_element(name: "reason").send_keys("downstream fixed")
    form.find_element(css: "button").click
    wait_for { driver.switch_to.alert }.accept
    wait_for { driver.find_elements(css: "#flash").any? }
    expect(driver.find_element(css: "#flash").text).to include("reset for another attempt")
    expect(engine.wait_for_task(ids[:error], timeout: 20)).to be_complete
    visit "/tasks/#{ids[:error]}"
    expect(driver.find_element(css: "h1").text).to include("complete")
    expect(driver.find_element(css: "#history").text).to include("downstream fixed")
    screenshot "task_retried"

    release_blocked
    expect(engine.wait_for_task(ids[:running], timeout: 20)).to be_complete
  end
end
