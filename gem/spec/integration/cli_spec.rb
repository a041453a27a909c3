# frozen_string_literal: true

require "json"
require "open3"
require "pty"
require "rbconfig"

# Issue 18 item 1: the `tasker-core` command line, run as a user runs it (a separate
# `ruby exe/tasker-core …` process) against this suite's store with real tasks: one
# complete, one in error. Reading commands run beside the engine that holds the store (a
# SQLite file opened read-only); the operations run once it is closed. Bad input (an unknown
# id, a bad URL, a bad template) gets one clear line and a non-zero status.
RSpec.describe "tasker-core, the command line" do
  module CliSpec
    EXE = File.expand_path("../../exe/tasker-core", __dir__)
    LIB = File.expand_path("../../lib", __dir__)
    PATTERNS = File.expand_path("../../../fixtures/templates/patterns", __dir__)
    FLAKY = <<~YAML
      name: cli_flaky
      namespace_name: cli
      version: 1.0.0
      step_templates:
        - { name: first, handler_class: Fixtures::NoopHandler }
        - { name: second, handler_class: ToggleHandler, depends_on_step: first }
    YAML
  end

  let(:dir) { Dir.mktmpdir("tasker-cli") }
  let(:url) { SpecStore.isolated_url("cli", dir) }

  before { ToggleHandler.broken = true }

  after do
    ToggleHandler.broken = false
    stop_engines
    FileUtils.rm_rf(dir)
  end

  # Runs the executable; returns [stdout, stderr, exit status].
  def cli(*args, env: {})
    out, err, status = Open3.capture3({ "TASKER_DATABASE_URL" => nil, **env }, RbConfig.ruby, "-I", CliSpec::LIB,
                                      CliSpec::EXE, *args, chdir: dir)
    [out, err, status.exitstatus]
  end

  # Runs the executable with stderr on a terminal (a pseudo-terminal) and stdout on a pipe;
  # returns [stdout, what the terminal received, exit status].
  def cli_on_terminal(*args)
    master, terminal = PTY.open
    out_r, out_w = IO.pipe
    pid = Process.spawn({ "TASKER_DATABASE_URL" => nil }, RbConfig.ruby, "-I", CliSpec::LIB, CliSpec::EXE, *args,
                        chdir: dir, out: out_w, err: terminal, in: File::NULL)
    [terminal, out_w].each(&:close)
    reader = Thread.new { out_r.read }
    shown = +""
    begin
      loop { shown << master.readpartial(4096) }
    rescue EOFError, Errno::EIO # the terminal's last writer exited
      nil
    end
    [reader.value, shown, Process.wait2(pid).last.exitstatus]
  ensure
    [master, out_r].each { |io| io&.close unless io&.closed? }
  end

  def cli_ok(*args, env: {})
    out, err, status = cli(*args, env: env)
    expect(status).to eq(0), "tasker-core #{args.join(' ')} exited #{status}:\n#{out}\n#{err}"
    out
  end

  # A store holding a complete linear task and a cli_flaky task in error.
  def stored_tasks
    engine = start_engine(templates: File.join(CliSpec::PATTERNS, "linear.yaml"), workers: 2, database_url: url)
    engine.register_template(CliSpec::FLAKY, source: "cli_flaky.yaml")
    done = engine.submit_task("linear", {})
    failed = engine.submit_task("cli_flaky", { "order" => 7 })
    expect(engine.wait_for_task(done, timeout: 20).state).to eq("complete")
    expect(engine.wait_for_task(failed, timeout: 20).state).to eq("error")
    engine.flush(timeout: 10)
    [engine, done, failed]
  end

  it "validates templates with path:line for each problem and an exit status for CI" do
    bad = File.join(dir, "bad.yaml")
    File.write(bad, "name: bad\nstep_templates:\n  - name: a\n    handler_class: A\n  - name: b\n    " \
                    "handler_class: B\n    depends_on_step: c\n")
    out = cli_ok("validate", CliSpec::PATTERNS)
    expect(out).to include("ok   #{CliSpec::PATTERNS}/diamond.yaml (fixtures/diamond@1.0.0)", "6 templates, 0 invalid")

    out, _err, status = cli("validate", File.join(CliSpec::PATTERNS, "linear.yaml"), bad)
    expect(status).to eq(1)
    expect(out).to include("#{bad}:7: step 'b': unknown dependency 'c'", "2 templates, 1 invalid")
    json = JSON.parse(cli("validate", "--json", bad).first)
    expect(json).to eq([{ "path" => bad, "valid" => false, "line" => 7, "task" => nil,
                          "error" => "step 'b': unknown dependency 'c': no step of that name in this template" }])

    _out, err, status = cli("validate", File.join(dir, "missing.yaml"))
    expect([status, err]).to eq([64, "tasker-core validate: #{dir}/missing.yaml: no such file or directory " \
                                     "(see `tasker-core validate --help`)\n"])
  end

  it "shows progress on stderr only when it is a terminal and the output is not JSON" do
    out, shown, status = cli_on_terminal("validate", CliSpec::PATTERNS)
    expect(status).to eq(0)
    expect(shown).to include("validating 1/6 files", "validating 6/6 files")
    expect(shown).to end_with("\r\e[K") # erased before the results
    expect(out).to include("6 templates, 0 invalid")
    expect(out).not_to include("\e[")
    _out, shown, = cli_on_terminal("validate", "--json", CliSpec::PATTERNS)
    expect(shown).to eq("")
    _out, err, = cli("validate", CliSpec::PATTERNS) # stderr a pipe: nothing
    expect(err).to eq("")

    engine, done, = stored_tasks
    out, shown, status = cli_on_terminal("tasks", "-d", url)
    expect(status).to eq(0)
    expect(shown).to include("opening #{url[/\A[a-z]+:/]}", "reading tasks")
    expect(out).to match(/^#{done}\s+fixtures\s+linear/)
    out, shown, = cli_on_terminal("graph", "--task", done.to_s, "-d", url)
    expect(shown).to include("reading task #{done}", "drawing the graph (svg)")
    expect(out).to start_with("<svg")
    expect(cli_on_terminal("status", "-d", url, "--json")[1]).to eq("")
    expect(engine.task_state(done)).to eq("complete")
  end

  it "shows status, lists tasks, shows a task and draws graphs beside the running engine" do
    engine, done, failed = stored_tasks
    status = JSON.parse(cli_ok("status", "-d", url, "--json"))
    expect(status["health"]).to include("total_tasks" => 2, "complete_tasks" => 1, "error_tasks" => 1,
                                        "total_steps" => 6, "error_steps" => 1)
    expect(cli_ok("status", "-d", url)).to match(/^error\s+1\s+1$/)

    rows = JSON.parse(cli_ok("tasks", "-d", url, "--json"))
    expect(rows.map { |r| [r["task_id"], r["name"], r["state"]] }).to eq([[failed, "cli_flaky", "error"],
                                                                          [done, "linear", "complete"]])
    expect(JSON.parse(cli_ok("tasks", "-d", url, "--state", "error", "--json")).map { |r| r["task_id"] }).to eq([failed])
    expect(JSON.parse(cli_ok("tasks", "-d", url, "--namespace", "cli", "--since", "1h", "--json")).size).to eq(1)
    page = cli_ok("tasks", "-d", url, "--limit", "1")
    expect(page).to include("more: --before #{failed}")
    expect(cli_ok("tasks", "-d", url, "--before", failed.to_s)).to match(/^#{done}\s+fixtures\s+linear/)

    shown = cli_ok("task", failed.to_s, "-d", url)
    expect(shown).to include("task #{failed}  cli/cli_flaky@1.0.0  error", "context {\"order\":7}")
    expect(shown).to match(/^second\s+\d+\s+error\s+1\s+3\s+.*downstream is broken/)
    expect(shown).to include("step second in_progress -> error")
    expect(JSON.parse(cli_ok("task", done.to_s, "-d", url, "--json"))["steps"].size).to eq(4)

    expect(cli_ok("graph", File.join(CliSpec::PATTERNS, "diamond.yaml"), "--format", "mermaid")).to start_with("flowchart")
    expect(cli_ok("graph", "--task", failed.to_s, "-d", url, "--format", "dot")).to include("digraph")
    svg = File.join(dir, "task.svg")
    cli_ok("graph", "--task", done.to_s, "-d", url, "--format", "svg", "--output", svg)
    expect(File.read(svg)).to start_with("<svg").and include('data-step="step_4"', "state-complete")
    # SVG is the default and is drawn without Graphviz: no `dot` on this PATH.
    drawn = cli_ok("graph", "--task", failed.to_s, "-d", url, env: { "PATH" => dir })
    expect(drawn).to match(/<g class="step state-error[^"]*\bfailed" id="step-1" data-step="second"/)
    expect(drawn).to match(/<path class="edge[^"]*\berror-chain" data-from="0" data-to="1"/)
    expect(cli_ok("graph", File.join(CliSpec::PATTERNS, "diamond.yaml"), env: { "PATH" => dir })).to start_with("<svg")
    expect(engine.task_state(done)).to eq("complete") # the engine was left alone
  end

  it "retries a failed step, then cancels and resolves tasks, once the engine is closed" do
    engine, done, failed = stored_tasks
    second = engine.task(failed).steps.find_by(name: "second").step_id
    engine.close
    ToggleHandler.broken = false

    flaky = File.join(dir, "cli_flaky.yaml")
    File.write(flaky, CliSpec::FLAKY)
    _out, err, status = cli("retry", second.to_s, "-d", url)
    expect([status, err]).to eq([1, "tasker-core retry: task #{failed}: its template cli/cli_flaky@1.0.0 is not " \
                                    "registered with this engine: give its template file with --templates\n"])
    expect(cli_ok("retry", second.to_s, "-d", url, "-t", flaky, "--reason", "downstream fixed", "--retry-limit", "2"))
      .to include("task #{failed}:")
    engine = start_engine(templates: [File.join(CliSpec::PATTERNS, "linear.yaml"), flaky], workers: 2,
                          database_url: url, recover: true)
    expect(engine.wait_for_task(failed, timeout: 20).state).to eq("complete")
    ToggleHandler.broken = true
    again = engine.submit_task("cli_flaky", {})
    pending = engine.create_task("linear", {})
    expect(engine.wait_for_task(again, timeout: 20).state).to eq("error")
    engine.flush(timeout: 10)
    engine.close

    expect(cli_ok("resolve", again.to_s, "-d", url, "-t", flaky, "--reason", "refunded"))
      .to eq("task #{again}: resolved_manually (refunded)\n")
    linear = File.join(CliSpec::PATTERNS, "linear.yaml")
    expect(cli_ok("cancel", pending.to_s, "-d", url, "-t", linear)).to eq("task #{pending}: cancelled\n")
    out, err, status = cli("resolve", done.to_s, "-d", url, "-t", linear)
    expect([out, status]).to eq(["", 1])
    expect(err).to start_with("tasker-core resolve: ").and include("complete")
    expect(JSON.parse(cli_ok("task", done.to_s, "-d", url, "--json"))["state"]).to eq("complete")
  end

  it "refuses bad input with one line and a non-zero status" do
    engine, done, _failed = stored_tasks
    engine.close # the operations need the SQLite file to themselves
    _out, err, status = cli("task", "987654", "-d", url)
    expect(status).to eq(1)
    expect(err).to start_with("tasker-core task: ").and include("987654")
    _out, err, status = cli("retry", "987654", "-d", url)
    expect([status, err]).to eq([1, "tasker-core retry: no step 987654\n"])
    _out, err, status = cli("tasks", "-d", "mysql://db/tasks")
    expect(status).to eq(64)
    expect(err).to include("--database-url expects sqlite://PATH")
    _out, err, status = cli("tasks", "-d", url, "--state", "done")
    expect([status, err]).to eq([64, "tasker-core tasks: --state done: not one of pending, in_progress, complete, " \
                                     "error, cancelled, resolved_manually (see `tasker-core tasks --help`)\n"])
    _out, err, status = cli("task", "-d", "sqlite://#{dir}/none.sqlite3", done.to_s)
    expect([status, err]).to eq([1, "tasker-core task: no SQLite database at #{dir}/none.sqlite3\n"]) unless SpecStore.postgres?
    _out, err, status = cli("task", "abc", "-d", url)
    expect(status).to eq(64)
    expect(err).to include("TASK_ID expects an integer")
  end
end
