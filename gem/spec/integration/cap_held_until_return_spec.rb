# frozen_string_literal: true

# Issue 17, review M6: a step's concurrency cap is held until its handler returns, not only
# until the engine stops waiting for it. A handler interrupted at its timeout may be slow to
# unwind (here its `ensure` goes on for a while); a step of the same cap must not start
# beside it. No timing is asserted: the order of what the handlers did is recorded and
# compared, and every wait is bounded.
module CapHeldSpec
  LOCK = Mutex.new

  class << self
    def reset = LOCK.synchronize { @events = [] }

    def record(event) = LOCK.synchronize { @events << event }

    def events = LOCK.synchronize { @events.dup }

    def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)

    # Waits until the block is true or `seconds` have passed; returns the block's last value.
    def wait_for(seconds)
      deadline = monotonic + seconds
      sleep 0.01 until (done = yield) || monotonic > deadline
      done
    end
  end

  # "slow" hangs until its timeout interrupts it, then keeps unwinding (its ensure) until a
  # step of the same cap starts or 3 s pass: with the cap held until it returns, nothing
  # starts meanwhile. Any other label records its start and returns.
  class Capped < TaskerCore::BaseStepHandler
    def process(context)
      label = context.task_context["label"]
      unless label == "slow"
        CapHeldSpec.record("#{label}:start")
        return { "ok" => true }
      end

      # Recorded inside the begin, so an interrupt cannot come between it and the ensure.
      begin
        CapHeldSpec.record("slow:start")
        sleep 30
      ensure
        CapHeldSpec.record("slow:interrupted")
        CapHeldSpec.wait_for(3) { CapHeldSpec.events.include?("next:start") }
        CapHeldSpec.record("slow:returned")
      end
    end
  end

  CAP_HELD_TEMPLATE = <<~YAML
    name: cap_held
    namespace_name: cap_held
    step_templates:
      - { name: only, handler_class: CapHeldSpec::Capped, default_retry_limit: 1, timeout_seconds: 2 }
  YAML
end

RSpec.describe "A concurrency cap held until the handler returns" do
  before { CapHeldSpec.reset }
  after { stop_engines }

  it "starts no step of a cap of 1 while a timed-out handler of it is still unwinding" do
    engine = start_engine(templates: nil, workers: 2, backoff_scale: 0.001,
                          concurrency: { handlers: { "CapHeldSpec::Capped" => 1 } })
    engine.register_template(CapHeldSpec::CAP_HELD_TEMPLATE)
    slow = engine.submit_task("cap_held", { "label" => "slow" })
    expect(CapHeldSpec.wait_for(30) { CapHeldSpec.events.include?("slow:start") }).to be(true)
    # Waits on the cap (a second worker is idle): it may start only once "slow" returned.
    nxt = engine.submit_task("cap_held", { "label" => "next" })

    expect(engine.wait_for_task(slow, timeout: 30)).to be_error
    expect(engine.wait_for_task(nxt, timeout: 30)).to be_complete
    expect(CapHeldSpec.events).to eq(%w[slow:start slow:interrupted slow:returned next:start])
    expect(engine.stats[:steps_timed_out]).to eq(1)
    expect(engine.stats[:late_reports_ignored]).to eq(1)
    errors = engine.task_hash(slow)["steps"][0]["transitions"].select { |t| t["to_state"] == "error" }
    expect(errors.map { |t| t["metadata"]["error_class"] }).to eq(%w[TaskerCore::TimeoutError])
  end
end
