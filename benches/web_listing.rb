# frozen_string_literal: true

# Issue 18: the dashboard's tasks list answers in <= 100 ms on a PostgreSQL store holding
# 1,000,000 tasks (a target, not an assertion).
#
# The store: TASKS finished 4-step chain tasks filled by support/workload_fill.rb (no ANALYZE
# afterwards, on purpose: the planner works with statistics that do not know the rows), then
# ERROR_TASKS tasks failed by a real engine (the newest ids), so "error" is a rare state.
# A store already holding TASKS tasks is reused as it is (the fill takes ~6 min for 1M).
#
# Measured, each ROUNDS times after 2 warm-up calls (median and best, milliseconds):
# `engine.tasks` (newest page, a page from the middle by keyset, then every kind of filter:
# a common state, a rare one, states no task is in, namespace and name, name alone, a state
# with a namespace or a template, creation time alone and with a state or a template, where
# few or no tasks match), and the dashboard's `/tasks` page through
# Rack (the query of 51 rows plus the HTML), unfiltered, deep, and filtered; the overview
# (`/`) the same way.
#
#   ruby benches/web_listing.rb [DATABASE_URL] [--json PATH]
#   (default postgres://postgres@127.0.0.1:5432/h_web; TASKER_BENCH_WEB_TASKS, default 1,000,000)

require_relative "support/bench_support"
require_relative "support/workload_fill"
require "tasker_core/web"
require "rack/mock"

module Bench
  # See the file comment.
  class WebListing
    TASKS = Integer(ENV.fetch("TASKER_BENCH_WEB_TASKS", "1000000"))
    ERROR_TASKS = 5
    ROUNDS = 15

    # Fails the bench's failing template's steps.
    class FailingHandler < TaskerCore::BaseStepHandler
      def process(_context) = raise(TaskerCore::PermanentError, "bench: always fails")
    end

    FAILING = <<~YAML
      name: web_bench_failing
      namespace_name: bench
      version: 1.0.0
      step_templates:
        - { name: only, handler_class: Bench::WebListing::FailingHandler, default_retry_limit: 1 }
    YAML

    def initialize(url)
      @url = url
    end

    def run
      fill = prepare
      engine = start
      results = { "database" => TaskerCore::Engine.redact(@url), "tasks" => count(engine), "fill" => fill,
                  "rounds" => ROUNDS, "engine_tasks_ms" => engine_tasks(engine), "page_ms" => pages(engine) }
      engine.close
      results
    end

    private

    def start
      engine = TaskerCore::Engine.start(templates: File.join(ROOT, "fixtures/templates/patterns"), workers: 1,
                                        database_url: @url, recover: false, instrument: false, backoff_scale: 0.001)
      engine.register_template(FAILING, source: "web_listing.rb")
      engine
    end

    def count(engine) = TaskerCore::Insights::SystemHealthCounts.from_store(engine: engine).total_tasks

    # Fills up to TASKS finished tasks, then fails ERROR_TASKS more (unless already there).
    def prepare
      engine = start
      have = count(engine)
      errors = TaskerCore::Insights::SystemHealthCounts.from_store(engine: engine).error_tasks
      engine.close
      fill = nil
      if have < TASKS
        fill = WorkloadFill.new(@url).fill(TASKS - have, template: "linear", namespace: "fixtures")
        warn format("web_listing: filled %d tasks in %.1f s", TASKS - have, fill["seconds"])
      end
      return fill if errors >= ERROR_TASKS && fill.nil?

      engine = start
      ids = Array.new(ERROR_TASKS) { engine.submit_task("web_bench_failing", {}, namespace: "bench") }
      ids.each { |id| engine.wait_for_task(id, timeout: 60) }
      engine.close
      fill
    end

    def measure
      2.times { yield }
      rounds = Array.new(ROUNDS) { Bench.time { yield } * 1000.0 }
      Bench.summary(rounds).except("rounds").transform_values { |v| v.round(2) }
    end

    def engine_tasks(engine)
      middle = engine.tasks(limit: 1).first["task_id"] / 2
      cases = {
        "newest 50" => {}, "50 before the middle id" => { before: middle },
        "state complete" => { state: "complete" }, "state error (#{ERROR_TASKS} newest tasks)" => { state: "error" },
        "state resolved_manually (no task)" => { state: "resolved_manually" },
        "state pending (no task)" => { state: "pending" },
        "namespace fixtures, name linear" => { namespace: "fixtures", name: "linear" },
        "name linear, before the middle id" => { name: "linear", before: middle },
        "state error, namespace bench" => { state: "error", namespace: "bench" },
        "state complete, namespace fixtures, name linear" => { state: "complete", namespace: "fixtures", name: "linear" },
        "since 1 hour ago" => { since: Time.now - 3600 },
        "since 10 minutes ago" => { since: Time.now - 600 },
        "since in 10 minutes (no task)" => { since: Time.now + 600 },
        "since in 10 minutes, state complete (no task)" => { since: Time.now + 600, state: "complete" },
        "since in 10 minutes, namespace fixtures, name linear (no task)" =>
          { since: Time.now + 600, namespace: "fixtures", name: "linear" },
        "since 10 minutes ago, state error" => { since: Time.now - 600, state: "error" },
        "since 10 minutes ago, state pending" => { since: Time.now - 600, state: "pending" }
      }
      cases.to_h do |label, filter|
        rows = engine.tasks(**filter, limit: 50).size
        [label, measure { engine.tasks(**filter, limit: 50) }.merge("rows" => rows)]
      end
    end

    def pages(engine)
      mock = Rack::MockRequest.new(TaskerCore::Web::App.new(engine: engine, secret: "bench-secret-#{'b' * 32}"))
      middle = engine.tasks(limit: 1).first["task_id"] / 2
      paths = ["/tasks", "/tasks?before=#{middle}", "/tasks?state=complete", "/tasks?state=error",
               "/tasks?state=resolved_manually", "/tasks?namespace=fixtures&name=linear", "/tasks?since=1h",
               "/tasks?since=10m&state=complete", "/tasks?since=10m&namespace=fixtures&name=linear"]
      results = paths.to_h do |path|
        status = mock.get(path).status
        raise "#{path} answered #{status}" unless status == 200

        [path, measure { mock.get(path) }]
      end
      # The overview once first: before its fix it took 21 s, too long to repeat 17 times.
      once = Bench.time { mock.get("/") } * 1000.0
      results.merge("/ (overview)" => once > 5000 ? { "ms" => once.round(1) } : measure { mock.get("/") })
    end
  end
end

if $PROGRAM_NAME == __FILE__
  url = ARGV.reject { |a| a.start_with?("--") || a == Bench.json_path }.first ||
        ENV.fetch("TASKER_BENCH_WEB_URL", "postgres://postgres@127.0.0.1:5432/h_web")
  results = Bench::WebListing.new(url).run
  puts "web_listing: #{results['database']}, #{results['tasks']} tasks, #{Bench::WebListing::ROUNDS} rounds (median / best ms)"
  { "engine.tasks" => results["engine_tasks_ms"], "page" => results["page_ms"] }.each do |kind, rows|
    rows.each do |label, r|
      figures = r.key?("ms") ? format("%8.1f", r["ms"]) : format("%8.2f / %-8.2f", r["median"], r["best"])
      puts format("  %-14s %-52s %s%s", kind, label, figures, r["rows"] ? "  (#{r['rows']} rows)" : "")
    end
  end
  Bench.write_json(results)
end
