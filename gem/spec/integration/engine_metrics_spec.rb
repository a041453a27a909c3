# frozen_string_literal: true

# Issue 8, engine metrics: counts and latency histograms of the calls across the Ruby/Rust
# boundary and inside the engine, as a Hash and as Prometheus text.
RSpec.describe "Engine metrics" do
  let(:engine) { start_engine }

  it "counts every boundary call and engine step of a workflow run, with latencies" do
    ids = Array.new(3) { engine.submit_task("linear", {}, namespace: "fixtures") }
    ids.each { |id| expect(engine.wait_for_task(id, timeout: 10).status).to eq(:complete) }
    engine.flush
    stats = engine.stats
    latency = stats[:latency]
    expect(latency.keys).to eq(%i[submit drain complete fail readiness store_commit])
    expect(latency[:store_commit][:count]).to eq(stats[:store_batches])
    expect(latency[:submit][:count]).to eq(3)
    expect(latency[:complete][:count]).to eq(12) # 3 tasks × 4 steps
    expect(latency[:readiness][:count]).to eq(12) # one per step report
    expect(latency[:fail][:count]).to eq(0)
    expect(latency[:drain][:count]).to be_between(1, 12)
    latency.each_value do |op|
      next if op[:count].zero?

      expect(op[:mean_us]).to be > 0
      expect(op[:p50_us]).to be > 0
      expect(op[:p99_us]).to be >= op[:p50_us]
    end
    expect(stats[:steps_completed]).to eq(12)
    expect(stats[:uptime_seconds]).to be > 0
    expect(stats[:steps_per_second]).to be >= 0
  end

  it "reports steps per second over the last full second" do
    id = engine.submit_task("wide", {}, namespace: "fixtures")
    expect(engine.wait_for_task(id, timeout: 10).status).to eq(:complete)
    # The 22 steps finished within one sampling second or across two; the next sample after
    # an idle second is 0.
    seen = []
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 3
    while Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
      seen << engine.stats[:steps_per_second]
      sleep 0.05
    end
    expect(seen.max).to be_between(1, 22)
    expect(seen.last).to eq(0)
  end

  it "exports the same numbers as Prometheus text" do
    id = engine.submit_task("diamond", {}, namespace: "fixtures")
    engine.wait_for_task(id, timeout: 10)
    engine.flush
    stats = engine.stats
    text = engine.metrics_text
    samples = {}
    types = {}
    text.each_line(chomp: true) do |line|
      if line.start_with?("# TYPE ")
        _, _, name, type = line.split(" ")
        types[name] = type
      else
        # Labels: a histogram's `le`, and on a shared PostgreSQL store the process table's.
        expect(line).to match(/\A[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+-]+\z/), line
        name, value = line.rpartition(" ").values_at(0, 2)
        samples[name] = Float(value)
      end
    end
    if SpecStore.postgres?
      # This engine is a live worker in the process table, and the text says so.
      expect(samples['tasker_core_processes{role="worker",alive="true"}']).to be >= 1
    end
    expect(types["tasker_core_steps_completed_total"]).to eq("counter")
    expect(samples["tasker_core_steps_completed_total"]).to eq(stats[:steps_completed])
    expect(types["tasker_core_steps_in_flight"]).to eq("gauge")
    expect(types["tasker_core_complete_duration_seconds"]).to eq("histogram")
    expect(samples["tasker_core_complete_duration_seconds_count"]).to eq(4)
    expect(samples['tasker_core_complete_duration_seconds_bucket{le="+Inf"}']).to eq(4)
    buckets = samples.select { |k, _| k.start_with?("tasker_core_complete_duration_seconds_bucket") }.values
    expect(buckets).to eq(buckets.sort) # cumulative
    expect(samples["tasker_core_complete_duration_seconds_sum"]).to be > 0
    expect(types["tasker_core_store_commit_duration_seconds"]).to eq("histogram")
    expect(samples["tasker_core_store_commit_duration_seconds_count"]).to eq(stats[:store_batches])
  end
end
