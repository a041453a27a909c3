# frozen_string_literal: true

require_relative "web_helpers"
require "action_dispatch"

# `mount TaskerCore::Web => "/tasker"` in real Rails routes (Debian's actionpack): the
# dashboard reads the process-wide engine (TaskerCore.engine, as the Railtie starts it),
# links under the mount point, and its forms work through the router.
RSpec.describe "TaskerCore::Web mounted in Rails routes" do
  include WebSpecHelpers

  after do
    release_blocked
    TaskerCore.stop if TaskerCore.engine
    TaskerCore::Web.secret = nil
  end

  let(:routes) do
    ActionDispatch::Routing::RouteSet.new.tap do |set|
      set.draw { mount TaskerCore::Web => "/tasker" }
    end
  end

  it "serves the app's running engine under the mount point" do
    WebSpecHandler.broken = false
    WebSpecHandler.gate = Queue.new
    engine = TaskerCore.start(templates: nil, workers: 1, database_url: isolated_store, recover: false,
                              backoff_scale: 0.001, instrument: false)
    engine.register_template(WebSpecHelpers::TEMPLATE, source: "web_order.yaml")
    id = engine.submit_task("web_order", { "mode" => "block" }, namespace: "web_spec")
    wait_until { engine.task(id).steps.find_by(name: "charge").current_state == "in_progress" }
    TaskerCore::Web.secret = "rails-mount-spec-#{'r' * 32}"

    mock = Rack::MockRequest.new(routes)
    list = mock.get("/tasker/tasks")
    expect(list.status).to eq(200)
    expect(list.body).to include(%(href="/tasker/tasks/#{id}"))
    page = mock.get("/tasker/tasks/#{id}")
    cookie = page["Set-Cookie"][/\A[^;]+/]
    expect(page["Set-Cookie"]).to include("path=/tasker")
    token = page.body[/name="authenticity_token" value="([^"]+)"/, 1]
    action = page.body[%r{action="(/tasker/tasks/#{id}/cancel)"}, 1]
    expect(action).not_to be_nil
    done = mock.post(action, "HTTP_COOKIE" => cookie, params: { "authenticity_token" => token, "reason" => "from rails" })
    expect(done.status).to eq(303)
    expect(done["Location"]).to start_with("/tasker/tasks/#{id}?done=")
    expect(engine.task(id).current_state).to eq("cancelled")
  end
end
