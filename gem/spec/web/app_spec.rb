# frozen_string_literal: true

require_relative "web_helpers"

# The dashboard as a Rack app, driven with Rack::MockRequest against a real engine and
# store: authorization, error pages, CSRF refusal, escaping, mounting under a path.
RSpec::Matchers.define_negated_matcher :exclude, :include

RSpec.describe TaskerCore::Web::App do
  include WebSpecHelpers

  ENVIRONMENT = %w[RACK_ENV RAILS_ENV APP_ENV].freeze
  before(:context) { @saved_env = ENV.to_h.slice(*ENVIRONMENT) }

  after do
    release_blocked
    TaskerCore::Web.authorize = nil
    ENVIRONMENT.each { |k| @saved_env.key?(k) ? ENV[k] = @saved_env[k] : ENV.delete(k) }
  end

  let(:secret) { "spec-secret-#{'x' * 32}" }
  let(:setup) { engine_with_tasks }
  let(:engine) { setup[0] }
  let(:ids) { setup[1] }
  let(:app) { described_class.new(engine: engine, secret: secret) }
  let(:mock) { Rack::MockRequest.new(app) }

  # A GET that keeps the session cookie, and the form token of the page it returned.
  def session_and_token(path)
    response = mock.get(path)
    cookie = response["Set-Cookie"][/\A[^;]+/]
    token = response.body[/name="authenticity_token" value="([^"]+)"/, 1]
    [cookie, token]
  end

  describe "authorization" do
    it "is closed in production when no hook is set, and says how to open it" do
      ENV["RACK_ENV"] = "production"
      response = mock.get("/tasks")
      expect(response.status).to eq(403)
      expect(response.body).to include("TaskerCore::Web.authorize")
      expect(response.body).not_to include("web_order")
    end

    it "lets the hook decide, in production too" do
      ENV["RAILS_ENV"] = "production"
      TaskerCore::Web.authorize = ->(request) { request.get_header("HTTP_X_ADMIN") == "yes" }
      expect(mock.get("/tasks").status).to eq(403)
      expect(mock.get("/tasks", "HTTP_X_ADMIN" => "yes").status).to eq(200)
    end

    it "is open in development and test when no hook is set (no environment named counts as development)" do
      ENVIRONMENT.each { |k| ENV.delete(k) }
      expect(mock.get("/").status).to eq(200)
      ENV["RACK_ENV"] = "test"
      expect(mock.get("/").status).to eq(200)
    end

    it "is closed in any other environment, staging too, for POSTs as well, changing nothing" do
      ENVIRONMENT.each { |k| ENV.delete(k) }
      cookie, token = session_and_token("/tasks/#{ids[:running]}")
      ENV["APP_ENV"] = "staging"
      expect(mock.get("/tasks").status).to eq(403)
      cancel = mock.post("/tasks/#{ids[:running]}/cancel", "HTTP_COOKIE" => cookie,
                                                            params: { "authenticity_token" => token })
      expect(cancel.status).to eq(403)
      expect(engine.task(ids[:running]).current_state).to eq("in_progress")
    end
  end

  describe "error pages" do
    it "answers an unknown task id with 404 naming it, and no backtrace" do
      response = mock.get("/tasks/987654321")
      expect(response.status).to eq(404)
      expect(response.body).to include("No task 987654321")
      expect(response.body).not_to match(/\.rb:\d+/)
      expect(mock.get("/tasks/abc").status).to eq(404)
      expect(mock.get("/nowhere").status).to eq(404)
    end

    it "reads a since time without an offset as UTC, the zone every page shows" do
      expect(TaskerCore::TaskFilter.since("2026-12-01T00:00:00")).to eq(Time.utc(2026, 12, 1))
      expect(TaskerCore::TaskFilter.since("2026-12-01T00:00:00+02:00")).to eq(Time.utc(2026, 11, 30, 22))
    end

    it "answers a query string it cannot parse with 400, not 500" do
      response = mock.get("/tasks?a[]=1&a[b]=2")
      expect(response.status).to eq(400)
      expect(response.body).to include("Malformed request")
    end

    it "answers a bad filter with 400 naming the filter" do
      { "state=bogus" => "state bogus", "since=yesterday" => "since yesterday", "limit=0" => "limit 0",
        "before=-3" => "before -3", "before=99999999999999999999" => "before 99999999999999999999",
        "since=2026-12-01T00:00:00X" => "since 2026-12-01T00:00:00X" }.each do |query, named|
        response = mock.get("/tasks?#{query}")
        expect(response.status).to eq(400), query
        expect(response.body).to include(named)
      end
    end

    it "answers an action on a missing step with 404 and an action the state refuses with 409" do
      cookie, token = session_and_token("/tasks/#{ids[:error]}")
      missing = mock.post("/steps/987654321/retry", "HTTP_COOKIE" => cookie, params: { "authenticity_token" => token })
      expect(missing.status).to eq(404)
      refused = mock.post("/tasks/#{ids[:complete]}/resolve", "HTTP_COOKIE" => cookie,
                                                              params: { "authenticity_token" => token })
      expect(refused.status).to eq(409)
      expect(engine.task(ids[:complete]).current_state).to eq("complete")
    end
  end

  describe "CSRF" do
    it "refuses a POST without a token, with a forged token, or without the session cookie, and changes nothing" do
      cookie, token = session_and_token("/tasks/#{ids[:running]}")
      path = "/tasks/#{ids[:running]}/cancel"
      expect(mock.post(path, "HTTP_COOKIE" => cookie, params: { "reason" => "x" }).status).to eq(403)
      expect(mock.post(path, "HTTP_COOKIE" => cookie, params: { "authenticity_token" => "0" * 64 }).status).to eq(403)
      expect(mock.post(path, params: { "authenticity_token" => token }).status).to eq(403)
      # A real token, of another session: tokens are bound to their session's cookie.
      _, other_token = session_and_token("/tasks/#{ids[:running]}")
      expect(other_token).not_to eq(token)
      expect(mock.post(path, "HTTP_COOKIE" => cookie, params: { "authenticity_token" => other_token }).status).to eq(403)
      other = described_class.new(engine: engine, secret: "another-secret-#{'y' * 32}")
      expect(Rack::MockRequest.new(other).post(path, "HTTP_COOKIE" => cookie,
                                                     params: { "authenticity_token" => token }).status).to eq(403)
      expect(engine.task(ids[:running]).current_state).to eq("in_progress")
    end

    it "accepts the page's own form: the task is cancelled with the reason" do
      cookie, token = session_and_token("/tasks/#{ids[:running]}")
      response = mock.post("/tasks/#{ids[:running]}/cancel", "HTTP_COOKIE" => cookie,
                                                             params: { "authenticity_token" => token, "reason" => "test run" })
      expect(response.status).to eq(303)
      expect(response["Location"]).to eq("/tasks/#{ids[:running]}?done=cancelled")
      expect(mock.get(response["Location"]).body).to include('<p class="flash" id="flash">The task was cancelled.</p>')
      task = engine.task(ids[:running])
      expect(task.current_state).to eq("cancelled")
      expect(task.state_transitions.last.metadata["reason"]).to eq("test run")
    end
  end

  describe "the CSRF key (Web.secret)" do
    around do |example|
      saved = ENV.fetch("TASKER_WEB_SECRET", nil)
      ENV.delete("TASKER_WEB_SECRET")
      TaskerCore::Web.secret = nil
      example.run
    ensure
      saved ? ENV["TASKER_WEB_SECRET"] = saved : ENV.delete("TASKER_WEB_SECRET")
      TaskerCore::Web.secret = nil
    end

    it "is not made up outside development and test: every request says how to set one, nothing is read" do
      ENV["RACK_ENV"] = "production"
      TaskerCore::Web.authorize = ->(_) { true }
      expect { TaskerCore::Web.secret }.to raise_error(TaskerCore::ConfigurationError, /set TASKER_WEB_SECRET/)
      response = Rack::MockRequest.new(described_class.new(engine: engine)).get("/tasks")
      expect(response.status).to eq(500)
      expect(response.body).to include("TASKER_WEB_SECRET").and exclude("web_order")
    end

    it "is TASKER_WEB_SECRET when set, in production too, so every process signs alike" do
      ENV["RACK_ENV"] = "production"
      ENV["TASKER_WEB_SECRET"] = "from-the-environment-#{'e' * 32}"
      expect(TaskerCore::Web.secret).to eq(ENV.fetch("TASKER_WEB_SECRET"))
    end

    it "is made up once per process in development, where no key was given" do
      ENVIRONMENT.each { |k| ENV.delete(k) }
      expect(TaskerCore::Web.secret).to match(/\A\h{64}\z/)
    end
  end

  describe "escaping" do
    it "escapes error messages, contexts and echoed filters" do
      body = mock.get("/tasks/#{ids[:error]}").body
      expect(body).not_to include(WebSpecHandler::HOSTILE)
      expect(body).to include(CGI.escapeHTML(WebSpecHandler::HOSTILE))
      expect(body).not_to include("<script>alert('ctx')")
      expect(body).to include("&lt;script&gt;")
      listing = mock.get("/tasks?namespace=%22%3E%3Cscript%3Ealert(1)%3C/script%3E").body
      expect(listing).not_to include("<script>alert(1)")
      expect(listing).to include("&quot;&gt;&lt;script&gt;alert(1)")
    end

    it "shows a notice only for an action's own code, never text from the link" do
      body = mock.get("/tasks/#{ids[:complete]}?done=Your+account+was+suspended").body
      expect(body).not_to include("suspended")
      expect(body).not_to include('id="flash"')
    end

    it "allows only the layout's own script and style (Content-Security-Policy), in lower-case headers" do
      response = mock.get("/tasks/#{ids[:error]}")
      names = response.headers.to_h.keys
      expect(names).to include("content-type", "set-cookie").and(all(satisfy { |n| n == n.downcase }))
      policy = response.headers.to_h.fetch("content-security-policy")
      expect(policy).to include("default-src 'none'", "form-action 'self'", "base-uri 'none'")
      script = response.body[%r{<script>(.*?)</script>}m, 1]
      style = response.body[%r{<style>(.*?)</style>}m, 1]
      expect(policy).to include("script-src 'sha256-#{Digest::SHA256.base64digest(script)}'")
      expect(policy).to include("style-src 'sha256-#{Digest::SHA256.base64digest(style)}'")
      expect(response.body.scan(/<script/).size).to eq(1)
    end
  end

  describe "pages" do
    it "renders the overview with counts, the chart and the slowest steps" do
      response = mock.get("/")
      expect(response.status).to eq(200)
      expect(response.body).to include('id="health"', "<svg", "Slowest steps", "web_spec/web_order")
    end

    it "draws the chart from one read of the store, with the analytics' counts per interval" do
      # A spy, not a stub: calls would go through to the real store. The chart asked the
      # analytics once per edge (13 queries) before the store counted every interval in one.
      allow(TaskerCore::Insights::AnalyticsMetrics).to receive(:current).and_call_original
      engine # the tasks run first
      now = Time.now
      buckets = TaskerCore::Web::Throughput.new(engine, now: now).buckets
      expect(TaskerCore::Insights::AnalyticsMetrics).not_to have_received(:current)
      expect(buckets.size).to eq(12)
      hour = TaskerCore::Insights::AnalyticsMetrics.current(since: now - 3600, engine: engine)
      expect(buckets.sum(&:steps)).to eq(hour.step_throughput).and be_positive
      expect(buckets.sum(&:errors)).to eq(hour.error_count).and eq(1)
      expect(buckets.last.steps).to be_positive # the tasks ran just now
    end

    it "counts tasks exactly on a small store, and only up to a cap on a large one" do
      # The server's connection count is the whole server's, at the moment of each read (a pool
      # opening or closing a connection, another client): counted, not compared.
      server = %i[active_connections max_connections]
      glanced = TaskerCore::StoreStatus.glance(engine).health
      expect(glanced.except(*server)).to eq(TaskerCore::StoreStatus.read(engine).health.except(*server))
      expect(glanced.values_at(*server)).to all(be_nil.or(be_positive))
      capped = TaskerCore::StoreStatus.glance(engine, cap: 1)
      expect(capped.cap).to eq(1)
      expect(capped.health).to include(complete_tasks: 1, error_tasks: 1, in_progress_tasks: 1, pending_tasks: 0,
                                       total_tasks: 3)
      stub_const("TaskerCore::Web::Pages::Overview::CAP", 1)
      body = mock.get("/").body
      expect(body).to include('id="capped"', "more than 1").and(exclude("<th>steps</th>"))
    end

    it "lists tasks newest first, filters by state, and pages by keyset" do
      body = mock.get("/tasks?limit=2").body
      listed = body.scan(%r{href="/tasks/(\d+)"}).flatten.map(&:to_i).uniq
      expect(listed).to eq([ids[:running], ids[:error]])
      older = body[/id="older" href="([^"]+)"/, 1]
      expect(CGI.unescapeHTML(older)).to eq("/tasks?limit=2&before=#{ids[:error]}")
      expect(mock.get(CGI.unescapeHTML(older)).body).to include(%(href="/tasks/#{ids[:complete]}"))
      errors = mock.get("/tasks?state=error").body
      expect(errors).to include(%(href="/tasks/#{ids[:error]}")).and(exclude(%(href="/tasks/#{ids[:complete]}")))
    end

    it "links under the mount point when mounted (SCRIPT_NAME)" do
      body = mock.get("/tasks", "SCRIPT_NAME" => "/tasker").body
      expect(body).to include(%(href="/tasker/tasks/#{ids[:running]}"))
      expect(mock.get("/", "SCRIPT_NAME" => "/tasker")["Set-Cookie"]).to include("path=/tasker")
    end

    it "shows the processes page" do
      expect(mock.get("/processes").status).to eq(200)
    end

    it "mounted as TaskerCore::Web without a started engine, says so with 503" do
      skip "a process-wide engine is running" if TaskerCore.engine
      response = Rack::MockRequest.new(TaskerCore::Web).get("/tasks")
      expect(response.status).to eq(503)
      expect(response.body).to include("TaskerCore is not started")
    end
  end
end
