# frozen_string_literal: true

require "rbconfig"

# Issue 16 item 4: `tasker-core work`, the gem's worker process, run as a user runs it — a
# separate `ruby exe/tasker-core work …` process with a handler file and a template
# directory — while this process submits (PostgreSQL: a client engine beside it; SQLite,
# one process per file: tasks left unfinished in the file). It stops on TERM with status 0
# and leaves no process row or claim behind; a second TERM hands a running step back at
# once; a bad command line gets one line naming what is wrong and a non-zero status.
RSpec.describe "tasker-core work, the worker command" do
  # A `tasker-core` child process, its output in files.
  class WorkChild
    EXE = File.expand_path("../../exe/tasker-core", __dir__)
    LIB = File.expand_path("../../lib", __dir__)

    attr_reader :pid, :status

    def initialize(command, dir, env: {})
      @out = File.join(dir, "work-#{object_id}.out")
      @err = File.join(dir, "work-#{object_id}.err")
      @pid = Process.spawn({ "TASKER_DATABASE_URL" => nil }.merge(env), *command, chdir: dir, out: @out, err: @err,
                                                                                in: File::NULL)
    end

    def stdout = File.exist?(@out) ? File.read(@out) : ""
    def stderr = File.exist?(@err) ? File.read(@err) : ""
    def output = "stdout:\n#{stdout}\nstderr:\n#{stderr}"

    # Waits until stdout matches `pattern` (the process exiting first fails).
    def wait_for(pattern, timeout: 90)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      until stdout.match?(pattern)
        raise "tasker-core work exited (#{@status.inspect}) before printing #{pattern.inspect}:\n#{output}" if finished?
        raise "no #{pattern.inspect} within #{timeout} s:\n#{output}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

        sleep 0.05
      end
    end

    # Waits up to `timeout` seconds for the exit.
    # @return [Process::Status, nil]
    def wait(timeout: 60)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      sleep 0.05 until finished? || Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      @status
    end

    def signal(name) = Process.kill(name, pid)

    def finished?
      @status ||= Process.waitpid2(pid, Process::WNOHANG)&.last
      !@status.nil?
    end

    def kill
      return if finished?

      Process.kill("KILL", pid)
      Process.wait(pid)
    rescue Errno::ESRCH, Errno::ECHILD
      nil
    end
  end

  let(:dir) { Dir.mktmpdir("tasker-work") }
  let(:templates) { File.join(dir, "templates").tap { |d| FileUtils.mkdir_p(d) } }
  let(:handlers) { File.join(dir, "handlers.rb") }
  let(:runs) { File.join(dir, "runs.log") }

  before do
    File.write(File.join(templates, "cli_chain.yaml"), <<~YAML)
      name: cli_chain
      namespace_name: cli
      version: 1.0.0
      step_templates:
        - { name: a, handler_class: CliChainHandler }
        - { name: b, handler_class: CliChainHandler, depends_on_step: a }
    YAML
    # Each run appends "pid task_id step" to runs.log; with CLI_SLOW_FILE set, a run first
    # writes that file and then sleeps (a step still running when the worker is stopped).
    File.write(handlers, <<~RUBY)
      class CliChainHandler < TaskerCore::BaseStepHandler
        def process(context)
          if (slow = ENV["CLI_SLOW_FILE"])
            File.write(slow, Process.pid.to_s)
            sleep 600
          end
          File.open(#{runs.inspect}, "a") { |f| f.write("\#{Process.pid} \#{context.task_id} \#{context.step_name}\\n") }
          { "pid" => Process.pid }
        end
      end
    RUBY
  end

  after do
    @children&.each(&:kill)
    FileUtils.rm_rf(dir)
  end

  def work(*args, env: {})
    child = WorkChild.new([RbConfig.ruby, "-I", WorkChild::LIB, WorkChild::EXE, "work", *args], dir, env: env)
    (@children ||= []) << child
    child
  end

  # Runs the executable to its end (60 s at most).
  def run_exe(*args)
    child = WorkChild.new([RbConfig.ruby, "-I", WorkChild::LIB, WorkChild::EXE, *args], dir)
    (@children ||= []) << child
    expect(child.wait(timeout: 60)).not_to be_nil, "tasker-core #{args.join(' ')} did not exit:\n#{child.output}"
    child
  end

  def ran = File.exist?(runs) ? File.readlines(runs).map(&:split) : []

  def psql(url, sql)
    IO.popen(["psql", url, "-At", "-c", sql], err: File::NULL, &:read).strip
  end

  def wait_until(seconds)
    deadline = monotonic + seconds
    sleep 0.05 until yield || monotonic > deadline
    yield
  end

  context "on PostgreSQL, beside a client engine that submits" do
    before { skip "a worker beside a submitting process needs PostgreSQL (SQLite: one process per file)" unless SpecStore.postgres? }

    let(:url) do
      # A password in the URL (trust auth ignores it) shows the ready line redacts it.
      SpecStore.isolated_url("worker_command", dir).sub(%r{\Apostgres(ql)?://([^:@/]+)@}) { "postgres://#{$2}:hunter2@" }
    end

    it "runs the tasks a client submits, says where it runs, and on TERM exits 0 leaving no process row or claim" do
      worker = work("--require", handlers, "--templates", templates, "--database-url", url, "--workers", "2",
                    "--claim-interval", "0.5")
      worker.wait_for(/worker ready/)
      ready = worker.stdout.lines.grep(/worker ready/).first
      expect(ready).to include("pid #{worker.pid}", "2 handler threads", "1 template: cli/cli_chain@1.0.0")
      expect(ready).not_to include("hunter2") if url.include?("hunter2")
      expect(worker.stdout).not_to include("handler classes not loaded")
      expect(psql(url, "SELECT role FROM tasker_core_processes WHERE pid = #{worker.pid}")).to eq("worker")

      client = start_engine(templates: templates, workers: 0, role: :client, database_url: url)
      ids = Array.new(20) { |i| client.submit_task("cli_chain", { "i" => i }, namespace: "cli") }
      ids.each do |id|
        result = client.wait_for_task(id, timeout: 120)
        expect(result.state).to eq("complete"), "task #{id}: #{result.state}\n#{worker.output}"
        expect(result.results.values.map { |r| r["pid"] }).to eq([worker.pid, worker.pid])
      end

      worker.signal("TERM")
      status = worker.wait(timeout: 60)
      expect(status).not_to be_nil, "no exit within 60 s of TERM:\n#{worker.output}"
      expect(status.exitstatus).to eq(0), worker.output
      expect(worker.stdout).to include("TERM received: stopping").and match(/stopped in \d+\.\d+ s$/)
      expect(worker.stderr).to be_empty
      expect(psql(url, "SELECT count(*) FROM tasker_core_processes WHERE pid = #{worker.pid}")).to eq("0")
      expect(psql(url, "SELECT count(*) FROM tasker_core_task_claims")).to eq("0")
    end

    it "hands a running step back at a second TERM, and another worker runs it" do
      slow_file = File.join(dir, "slow.started")
      slow = work("-r", handlers, "-t", templates, "-d", url, "-c", "1", "--shutdown-timeout", "600",
                  "--claim-interval", "0.5", env: { "CLI_SLOW_FILE" => slow_file })
      slow.wait_for(/worker ready/)
      client = start_engine(templates: templates, workers: 0, role: :client, database_url: url)
      id = client.submit_task("cli_chain", {}, namespace: "cli")
      expect(wait_until(90) { File.exist?(slow_file) }).to be(true), "the step never started:\n#{slow.output}"

      slow.signal("TERM")
      slow.wait_for(/TERM received: stopping/)
      # The step sleeps 600 s and the shutdown timeout is 600 s: only the second signal ends it.
      slow.signal("TERM")
      status = slow.wait(timeout: 60)
      expect(status).not_to be_nil, "no exit within 60 s of the second TERM:\n#{slow.output}"
      expect(status.exitstatus).to eq(0), slow.output
      expect(slow.stdout).to include("TERM received again: handing back running steps now")
      expect(client.task_state(id)).not_to eq("complete")

      fast = work("-r", handlers, "-t", templates, "-d", url, "--claim-interval", "0.5")
      expect(client.wait_for_task(id, timeout: 120).state).to eq("complete"), fast.output
      expect(ran.map(&:first).uniq).to eq([fast.pid.to_s])
      fast.signal("INT")
      expect(fast.wait(timeout: 60)&.exitstatus).to eq(0), fast.output
    end
    it "takes its settings from --config (ERB, then YAML), the command line winning" do
      slow_file = File.join(dir, "slow.started")
      config = File.join(dir, "worker.yml")
      File.write(config, <<~YAML)
        require: #{handlers}
        templates: [#{templates}]
        database_url: <%= ENV.fetch("WORK_URL") %>
        workers: 3
        claim_interval: 0.5
        step_timeout: 1
        concurrency:
          handlers: { CliChainHandler: 1 }
      YAML
      worker = work("--config", config, "--workers", "2", env: { "CLI_SLOW_FILE" => slow_file, "WORK_URL" => url })
      worker.wait_for(/settings from/)
      expect(worker.stdout).to include("2 handler threads", "1 template: cli/cli_chain@1.0.0")
      expect(worker.stdout).to include("settings from #{config}: claim_interval, concurrency, database_url, require, " \
                                       "step_timeout, templates (the command line's workers won)")

      # The handler sleeps 600 s; only the file's step_timeout of 1 s ends the attempt.
      client = start_engine(templates: templates, workers: 0, role: :client, database_url: url)
      id = client.submit_task("cli_chain", {}, namespace: "cli")
      failed = lambda do
        step = client.task(id).steps.find { |s| s.name == "a" }
        step.state_transitions.find { |t| t.to_state == "error" }
      end
      expect(wait_until(90) { failed.call }).not_to be_nil, "no attempt failed:\n#{worker.output}"
      expect(failed.call.metadata["error_class"]).to eq("TaskerCore::TimeoutError")
      worker.signal("TERM")
      expect(worker.wait(timeout: 60)&.exitstatus).to eq(0), worker.output
    end
  end

  context "on SQLite, one process per file" do
    before { skip "SQLite only" unless SpecStore::KIND == "sqlite" }

    it "recovers and runs the tasks left unfinished in the file (TASKER_DATABASE_URL), then exits 0 on TERM" do
      url = SpecStore.isolated_url("worker_command", dir)
      submitter = start_engine(templates: templates, workers: 0, database_url: url)
      ids = Array.new(5) { |i| submitter.submit_task("cli_chain", { "i" => i }, namespace: "cli") }
      submitter.flush
      submitter.close(timeout: 5)

      worker = work("-r", handlers, "-t", templates, env: { "TASKER_DATABASE_URL" => url })
      worker.wait_for(/worker ready/)
      expect(worker.stdout).to include("database #{url}", "4 handler threads")
      expect(wait_until(90) { ran.size == ids.size * 2 }).to be(true), "steps run: #{ran}\n#{worker.output}"
      worker.signal("TERM")
      status = worker.wait(timeout: 60)
      expect(status).not_to be_nil, "no exit within 60 s of TERM:\n#{worker.output}"
      expect(status.exitstatus).to eq(0), worker.output

      expect(ran.map(&:first).uniq).to eq([worker.pid.to_s])
      reader = start_engine(templates: templates, workers: 0, database_url: url)
      expect(ids.map { |id| reader.task_state(id) }).to all(eq("complete"))
    end
  end

  describe "the command line" do
    def refused(*args, status: 64)
      child = run_exe(*args)
      expect(child.status.exitstatus).to eq(status), child.output
      expect(child.stderr.lines.size).to eq(1), child.output
      expect(child.stdout).to be_empty
      child.stderr
    end

    it "refuses a bad command line with one line naming the option or value, and exit status 64" do
      expect(refused("work", "--wrokers", "2")).to include("invalid option: --wrokers", "--workers?")
      expect(refused("work", "--workers", "abc")).to include('--workers expects an integer >= 0, got "abc"')
      expect(refused("work", "--concurrency", "-1")).to include("--concurrency", "-1")
      expect(refused("work", "--claim-interval", "soon")).to include("--claim-interval", "soon")
      expect(refused("work", "--templates", File.join(dir, "nowhere"))).to include("--templates #{dir}/nowhere: no such file")
      expect(refused("work", "--require", File.join(dir, "missing.rb"))).to include("--require #{dir}/missing.rb")
      bad_url = refused("work", "--database-url", "mysql://root:secret@db/shop")
      expect(bad_url).to include("--database-url", "mysql://root:***@db/shop")
      expect(bad_url).not_to include("secret")
      expect(refused("work", "-w", "2", "-c", "3")).to include("--workers 2 and --concurrency 3 disagree")
      expect(refused("work", "--workers", "0")).to include("would run no handlers")
      expect(refused("wrok")).to include('unknown command "wrok"')
    end

    it "refuses a --config file it cannot use with one line naming the file and the key" do
      config = File.join(dir, "worker.yml")
      File.write(config, "workers: 2\nstep_timeot: 5\n")
      expect(refused("work", "--config", config)).to include("--config #{config}: unknown key \"step_timeot\"", "step_timeout")
      File.write(config, "workers: many\n")
      expect(refused("work", "--config", config)).to include("--config #{config}: workers expects an integer >= 0, got \"many\"")
      File.write(config, "workers: [2\n")
      expect(refused("work", "--config", config)).to match(%r{--config #{config}: did not find expected ',' or ']' .*line 1 column})
      File.write(config, "- workers\n")
      expect(refused("work", "--config", config)).to include("--config #{config}: expected a mapping of settings, got Array")
      File.write(config, "templates: #{File.join(dir, 'nowhere')}\n")
      expect(refused("work", "--config", config)).to include("--config #{config}: templates #{dir}/nowhere: no such file")
      expect(refused("work", "--config", File.join(dir, "missing.yml"))).to include("--config #{dir}/missing.yml: no such file")
      # The engine's own settings are checked as Engine.start checks them (status 1).
      File.write(config, "database_url: 'memory:'\nconcurrency: { handlers: { CliChainHandler: 0 } }\n")
      expect(refused("work", "--config", config, status: 1))
        .to include("could not start the engine", "concurrency handlers.CliChainHandler: expected an Integer ≥ 1")
    end

    it "fails with status 1 and one line when the database or the handler code cannot be used" do
      expect(refused("work", "-d", "sqlite://#{dir}/no/such/dir/tasks.sqlite3", status: 1))
        .to include("could not start the engine", "#{dir}/no/such/dir/tasks.sqlite3")
      broken = File.join(dir, "broken.rb")
      File.write(broken, "raise 'handlers refuse to load'\n")
      expect(refused("work", "-r", broken, "-d", "sqlite://#{dir}/t.sqlite3", status: 1))
        .to include("--require #{broken}: RuntimeError: handlers refuse to load")
    end

    it "warns at start of handler classes its templates name that no --require loaded" do
      worker = work("--templates", templates, "--database-url", "memory:")
      worker.wait_for(/worker ready/)
      expect(worker.stdout).to include("WARN: tasker-core: handler classes not loaded: CliChainHandler " \
                                       "(cli/cli_chain@1.0.0); their steps fail until they are (load them with --require)")
      worker.signal("INT")
      expect(worker.wait(timeout: 60)&.exitstatus).to eq(0), worker.output
    end

    it "answers --help and --version" do
      help = run_exe("work", "--help")
      expect(help.status.exitstatus).to eq(0)
      expect(help.stdout).to include("Usage: tasker-core work", "--require FILE", "--concurrency N", "--shutdown-timeout S")
      top = run_exe("--help")
      expect(top.stdout).to include("Usage: tasker-core COMMAND", "work")
      version = run_exe("--version")
      expect(version.stdout).to eq("tasker-core #{TaskerCore::VERSION}\n")
    end
  end
end
