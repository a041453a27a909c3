# frozen_string_literal: true

# The pool's StepWatchdog on its own, with real threads: it interrupts a thread whose armed
# step is past its deadline, and its lock-free handshake never lets an interrupt meant for
# one step reach the next step, or the code between steps (where workers report).
module StepWatchdogSpec
  # What the watchdog reads of a step to name it.
  Step = Struct.new(:step_id, :name, :task_id, :timeout, :attempt)
end

RSpec.describe TaskerCore::StepWatchdog do

  let(:watchdog) { described_class.new(name: "spec-watchdog") }

  after { watchdog.stop }

  def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  # Runs `steps` one after another on a new thread the way a worker does: TimeoutError
  # masked except inside each step's "handler" (the block, given the step and its slot).
  # Returns what each handler rescued, as [step index, message] pairs.
  def run_worker(steps, deadline_of)
    Thread.new do
      slot = watchdog.slot
      caught = []
      Thread.handle_interrupt(TaskerCore::TimeoutError => :never) do
        steps.each_with_index do |step, i|
          slot.arm(deadline_of.call(i), step)
          begin
            Thread.handle_interrupt(TaskerCore::StepRunner::TIMEOUT_DELIVERED) { yield step, slot, i }
          rescue TaskerCore::TimeoutError => e
            caught << [i, e.message]
          ensure
            slot.disarm
          end
        end
      end
      caught
    end.value
  end

  def step(i) = StepWatchdogSpec::Step.new(1000 + i, "s#{i}", 7, 0.5, 1)

  it "interrupts a hung step once its deadline passes, naming it" do
    caught = run_worker([step(0)], ->(_) { monotonic + 0.05 }) { sleep 30 }
    expect(caught).to eq([[0, "step 1000 (s0) of task 7 ran longer than its timeout of 0.5 s (attempt 1)"]])
  end

  it "never lets an interrupt reach the next step or the code between steps" do
    steps = Array.new(2000) { |i| step(i) }
    # Every deadline has passed already, so the watchdog fires at whatever is armed when it
    # looks, racing the worker's disarm. Every 10th handler waits until it is interrupted, so
    # interrupts certainly happen; the others return at once, so most race a disarm.
    caught = run_worker(steps, ->(_) { monotonic - 1 }) do |s, slot, i|
      if (i % 10).zero?
        give_up = monotonic + 30
        Thread.pass until slot.fired.equal?(s) || monotonic > give_up
        sleep 30 # the interrupt, pending since it fired, ends this at once
      end
      Thread.pass
    end
    # Had an interrupt escaped the handlers, the worker thread would have raised it above.
    waited = (0...2000).step(10).to_a
    expect(caught.map(&:first)).to include(*waited)
    caught.each do |i, message|
      expect(message).to start_with("step #{1000 + i} (s#{i}) ")
    end
  end

  it "goes to sleep untimed once nothing is armed, and an arm wakes it" do
    deadline_of = lambda do |i|
      next monotonic + 60 if i.zero?

      # Step 0 returned at once and was disarmed: the watchdog's next look finds nothing armed.
      give_up = monotonic + 30
      sleep 0.001 until watchdog.idle || monotonic > give_up
      expect(watchdog.idle).to be(true)
      monotonic + 0.05
    end
    caught = run_worker([step(0), step(1)], deadline_of) { |_, _, i| sleep 30 if i == 1 }
    expect(caught).to eq([[1, "step 1001 (s1) of task 7 ran longer than its timeout of 0.5 s (attempt 1)"]])
  end
end
