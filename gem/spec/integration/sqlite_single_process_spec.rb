# frozen_string_literal: true

require "open3"
require "rbconfig"
require "tmpdir"

# Issue 16 item 5: a SQLite file serves one engine process. A second process opening the
# same file is refused, naming the process that holds it; the file opens again as soon as the
# holder closes its engine or dies (SIGKILL included); a forked child is not a holder.
RSpec.describe "One engine process per SQLite file" do
  GEM_LIB = File.expand_path("../../lib", __dir__)

  # Starts an engine on `url` in a new Ruby process; returns [exit status, stdout+stderr].
  def open_in_other_process(url)
    script = <<~RUBY
      Warning[:experimental] = false
      require "tasker_core"
      begin
        engine = TaskerCore::Engine.start(database_url: ARGV[0], workers: 0, recover: false)
        puts "opened"
        engine.close
      rescue TaskerCore::DatabaseError => e
        puts "refused: \#{e.message}"
        exit 3
      end
    RUBY
    out, status = Open3.capture2e(RbConfig.ruby, "-I", GEM_LIB, "-e", script, url)
    [status.exitstatus, out]
  end

  before { skip "a SQLite file's lock, checked once, in the SQLite run" unless SpecStore::KIND == "sqlite" }

  around do |example|
    Dir.mktmpdir("tasker-lock") do |dir|
      @path = File.join(dir, "app.sqlite3")
      @url = "sqlite://#{@path}"
      example.run
    end
  end

  it "refuses a second process while the first holds the file, naming the holder, and lets it in once closed" do
    engine = TaskerCore::Engine.start(database_url: @url, workers: 1, recover: false)
    status, out = open_in_other_process(@url)
    expect(status).to eq(3), out
    expect(out).to include("refused: sqlite://#{@path} is in use by pid #{Process.pid} on host ")
    expect(out).to include("a SQLite file serves one engine process")
    expect(out).to include("use PostgreSQL")

    # Another engine of the same process still opens it (the lock is per process).
    second = TaskerCore::Engine.start(database_url: @url, workers: 0, recover: false)
    second.close
    expect(open_in_other_process(@url).first).to eq(3)

    engine.close
    status, out = open_in_other_process(@url)
    expect(status).to eq(0), out
    expect(out).to include("opened")
  end

  it "lets another process inspect the file read-only (?mode=ro) while the holder runs, and refuses its writes" do
    engine = TaskerCore::Engine.start(database_url: @url, workers: 1, recover: false, templates: nil)
    engine.register_template(<<~YAML, source: "inspected.yaml")
      name: inspected
      step_templates:
        - { name: only, handler_class: Fixtures::RecordingHandler }
    YAML
    id = engine.submit_task("inspected", { "n" => 1 })
    expect(engine.wait_for_task(id, timeout: 10)).to be_complete

    script = <<~RUBY
      Warning[:experimental] = false
      require "tasker_core"
      reader = TaskerCore::Engine.start(database_url: ARGV[0], workers: 0, recover: false)
      puts "state=\#{reader.task_state(Integer(ARGV[1]))}"
      begin
        reader.register_template("name: other\nstep_templates:\n  - { name: a, handler_class: Object }\n", source: "other.yaml")
        puts "wrote"
      rescue TaskerCore::Error => e
        puts "write refused: \#{e.class}: \#{e.message}"
      end
      reader.close
    RUBY
    out, status = Open3.capture2e(RbConfig.ruby, "-I", GEM_LIB, "-e", script, "#{@url}?mode=ro", id.to_s)
    expect(status.exitstatus).to eq(0), out
    expect(out).to include("state=complete")
    expect(out).to match(/write refused: TaskerCore::DatabaseError: .*readonly/)
    expect(engine.wait_for_task(engine.submit_task("inspected", { "n" => 2 }), timeout: 10)).to be_complete
  end

  it "opens at once after the holder is SIGKILLed" do
    holder = IO.popen([RbConfig.ruby, "-I", GEM_LIB, "-e", <<~RUBY, @url], err: %i[child out])
      Warning[:experimental] = false
      require "tasker_core"
      TaskerCore::Engine.start(database_url: ARGV[0], workers: 1, recover: false)
      puts "ready"
      $stdout.flush
      sleep
    RUBY
    expect(holder.gets).to eq("ready\n")
    status, out = open_in_other_process(@url)
    expect(status).to eq(3), out
    expect(out).to include("pid #{holder.pid}")

    Process.kill("KILL", holder.pid)
    Process.wait(holder.pid)
    holder.close
    status, out = open_in_other_process(@url)
    expect(status).to eq(0), out
  end

  it "does not count a forked child as a holder: the child is refused while the parent holds the file, and the file is free once the parent closes, even with the child still running" do
    engine = TaskerCore::Engine.start(database_url: @url, workers: 1, recover: false)
    to_child_r, to_child_w = IO.pipe
    from_child_r, from_child_w = IO.pipe
    pid = fork do
      to_child_w.close
      from_child_r.close
      begin
        TaskerCore::Engine.start(database_url: @url, workers: 0, recover: false).close
        from_child_w.puts "opened"
      rescue TaskerCore::DatabaseError => e
        from_child_w.puts "refused #{e.message[/pid \d+/]}"
      end
      from_child_w.flush
      to_child_r.gets # stays alive, holding its copy of the parent's descriptors
      exit!(0)
    end
    to_child_r.close
    from_child_w.close
    expect(from_child_r.gets).to eq("refused pid #{Process.pid}\n")

    engine.close
    status, out = open_in_other_process(@url)
    expect(status).to eq(0), out
  ensure
    to_child_w&.puts("done")
    Process.wait(pid) if pid
  end
end
