# frozen_string_literal: true

# The pool's StepWatchdog on its own, with real threads: it interrupts a thread whose
# watched step is past its deadline, and its lock-free handshake never lets an interrupt
# meant for one step out of that step's watch (into the report after it, or the next step).
module StepWatchdogSpec
  # What the watchdog reads of a step to name it.
  Step = Struct.new(:step_id, :name, :task_id, :timeout, :attempt)
end

RSpec.describe TaskerCore::StepWatchdog do

  let(:watchdog) { described_class.new(name: "spec-watchdog") }

  after { watchdog.stop }

  def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  # Runs `steps` one after another on a new thread the way a worker does: each step's
  # "handler" (the block, given the step, its slot and its index) under the slot's watch,
  # then a "report" that passes the GVL (an interrupt that escaped the watch would land
  # there and end the thread with it). Returns what each watch raised, as
  # [step index, message] pairs.
  def run_worker(steps, deadline_of)
    Thread.new do
      slot = watchdog.slot
      caught = []
      steps.each_with_index do |step, i|
        begin
          slot.watch(deadline_of.call(i), step) { yield step, slot, i }
        rescue TaskerCore::TimeoutError => e
          caught << [i, e.message]
        end
        3.times { Thread.pass }
      end
      caught
    end.value
  end

  def step(i) = StepWatchdogSpec::Step.new(1000 + i, "s#{i}", 7, 0.5, 1)

  it "interrupts a hung step once its deadline passes, naming it" do
    caught = run_worker([step(0)], ->(_) { monotonic + 0.05 }) { sleep 30 }
    expect(caught).to eq([[0, "step 1000 (s0) of task 7 ran longer than its timeout of 0.5 s (attempt 1)"]])
  end

  # A watchdog that loses the GVL between deciding to interrupt a step and raising, as a
  # busy process's may: the worker has left the step's handler by then, and must still get
  # the exception inside the step's watch, not in its report.
  class SlowToRaise < TaskerCore::StepWatchdog
    # The step it has decided to interrupt, before it raises.
    attr_reader :raising

    private

    def interrupt(thread, step)
      @raising = step
      5.times { Thread.pass }
      super
    end
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
    # Had an interrupt escaped a watch, the worker thread would have raised it above.
    waited = (0...2000).step(10).to_a
    expect(caught.map(&:first)).to include(*waited)
    caught.each do |i, message|
      expect(message).to start_with("step #{1000 + i} (s#{i}) ")
    end
  end

  context "when the watchdog loses the GVL just before raising" do
    let(:watchdog) { SlowToRaise.new(name: "spec-watchdog") }

    it "still raises inside the step's watch, never in the report after it" do
      steps = Array.new(500) { |i| step(i) }
      # Every 50th handler returns only once the watchdog has decided to interrupt it, so
      # that race certainly happens: the exception is raised after the handler returned.
      caught = run_worker(steps, ->(_) { monotonic - 1 }) do |s, _slot, i|
        give_up = monotonic + 30
        Thread.pass until !(i % 50).zero? || watchdog.raising.equal?(s) || monotonic > give_up
      end
      expect(caught.map(&:first)).to include(*(0...500).step(50).to_a)
      caught.each { |i, message| expect(message).to start_with("step #{1000 + i} (s#{i}) ") }
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
