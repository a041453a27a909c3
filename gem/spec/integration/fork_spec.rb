# frozen_string_literal: true

# Issue 5's fork guard: Puma, Unicorn and Sidekiq preload an app, start the engine in an
# initializer, and fork. The child must not use the parent's engine (its threads are not
# there) and gets a fresh one with TaskerCore.after_fork; the parent is unaffected.
RSpec.describe "Forking a process with a running engine" do
  after { TaskerCore.stop }

  FORK_TEMPLATE = "name: forked\nstep_templates:\n  - { name: only, handler_class: Fixtures::RecordingHandler }\n"

  it "refuses the parent's engine in the child, starts a fresh one with after_fork, and leaves the parent working" do
    TaskerCore.start(workers: 1, database_url: "memory:", recover: false, instrument: false)
    parent = TaskerCore.engine
    parent.register_template(FORK_TEMPLATE, source: "forked.yaml")
    reader, writer = IO.pipe
    pid = fork do
      reader.close
      seen = { forked: parent.forked?, stop: parent.stop(timeout: 1) }
      begin
        parent.submit_task("forked", {})
      rescue TaskerCore::OrchestrationError => e
        seen[:error] = e.message
      end
      child = TaskerCore.after_fork
      child.register_template(FORK_TEMPLATE, source: "forked.yaml")
      seen[:child] = child.wait_for_task(child.submit_task("forked", {}), timeout: 10).status
      seen[:child_forked] = child.forked?
      TaskerCore.stop
      writer.write(Marshal.dump(seen))
      writer.close
      exit!(0)
    end
    writer.close
    seen = Marshal.load(reader.read) # rubocop:disable Security/MarshalLoad
    _, status = Process.wait2(pid)
    expect(status.exitstatus).to eq(0)
    expect(seen[:forked]).to be(true)
    expect(seen[:stop]).to eq(0)
    expect(seen[:error]).to match(/started in process #{Process.pid} and this process \(#{pid}\) is a fork of it.*TaskerCore\.after_fork/)
    expect(seen[:child]).to eq(:complete)
    expect(seen[:child_forked]).to be(false)

    expect(parent.forked?).to be(false)
    expect(parent.wait_for_task(parent.submit_task("forked", {}), timeout: 10)).to be_complete
  end

  it "says when after_fork has nothing to restart" do
    TaskerCore.instance_variable_set(:@start_options, nil)
    expect { TaskerCore.after_fork }.to raise_error(TaskerCore::OrchestrationError, /TaskerCore\.start was never called/)
  end
end
