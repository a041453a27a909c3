# frozen_string_literal: true

require "logger"
require "open3"
require "stringio"

# The engine's own threads (Rust) have things to tell the app: a store that stopped answering,
# a schedule that could not submit. They went to stderr, whatever `logger:` said; they now
# reach the logger of every open engine that has one, and stderr only when none is open.
RSpec.describe TaskerCore::EngineLog do
  ENGINE_LOG_CHILD = File.expand_path("../bin/engine_log_child.rb", __dir__)

  def from_engine(message, level = "warn") = TaskerCore::Native::Diagnostics.log_from_engine_thread(level, message)

  def within(seconds)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
    sleep 0.01 until yield || Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
  end

  it "writes them to each open engine's logger once, at their level" do
    shared = StringIO.new
    logger = Logger.new(shared)
    own = StringIO.new
    start_engine(templates: nil, workers: 0, logger: logger)
    start_engine(templates: nil, workers: 0, logger: logger)
    third = start_engine(templates: nil, workers: 0, logger: Logger.new(own))
    from_engine("tasker-core: engine log spec one", "error")
    within(10) { shared.string.include?("spec one") && own.string.include?("spec one") }
    expect(shared.string.scan("engine log spec one").size).to eq(1)
    expect(shared.string).to match(/ERROR -- : tasker-core: engine log spec one/)
    expect(own.string).to include("engine log spec one")

    third.close
    from_engine("tasker-core: engine log spec two", "info")
    within(10) { shared.string.include?("spec two") }
    expect(shared.string).to match(/INFO -- : tasker-core: engine log spec two/)
    expect(own.string).not_to include("spec two")
  end

  it "starts its thread again at the next engine when something killed it" do
    logged = StringIO.new
    start_engine(templates: nil, workers: 0, logger: Logger.new(logged))
    Thread.list.find { |t| t.name == "tasker-core log" }.kill.join
    start_engine(templates: nil, workers: 0, logger: Logger.new(StringIO.new))
    from_engine("tasker-core: engine log spec three")
    within(10) { logged.string.include?("spec three") }
    expect(logged.string).to include("spec three")
    expect(Thread.list.count { |t| t.name == "tasker-core log" }).to eq(1)
  end

  it "writes them to stderr while no engine with a logger is open, and in a forked child" do
    out, err, status = Open3.capture3(RbConfig.ruby, ENGINE_LOG_CHILD)
    expect(status).to be_success, err
    expect(out).to include("m2: while open", "m5: just before exit")
    expect(out).not_to include("m1", "m3", "m4")
    expect(err).to include("m1: before any engine", "m3: in a forked child", "m4: after close")
    expect(err).not_to include("m2", "m5")
  end

  it "writes what the threads said just before the last engine's close to its logger" do
    logged = StringIO.new
    logger = Logger.new(logged)
    # What Engine#close does after the store's last words, without the time it takes.
    described_class.attach(logger)
    5.times { |i| from_engine("tasker-core: engine log spec close #{i}") }
    described_class.detach(logger)
    expect(logged.string.scan(/engine log spec close \d/).size).to eq(5)
    expect(described_class.loggers).not_to include(logger)
  end

  it "lets go of the last logger even when writing to it is interrupted" do
    raising = Class.new(Logger) { def warn(*) = raise(Interrupt) }.new(StringIO.new)
    described_class.attach(raising)
    # No thread takes the message, so the detach writes it, and the write is interrupted.
    Thread.list.find { |t| t.name == "tasker-core log" }.kill.join
    from_engine("tasker-core: engine log spec interrupted")
    expect { described_class.detach(raising) }.to raise_error(Interrupt)
    expect(described_class.loggers).not_to include(raising)
    logged = StringIO.new
    start_engine(templates: nil, workers: 0, logger: Logger.new(logged))
    from_engine("tasker-core: engine log spec after")
    within(10) { logged.string.include?("spec after") }
    expect(logged.string).to include("spec after")
  end

  it "lets go of the logger of an engine that failed to start" do
    logger = Logger.new(StringIO.new)
    expect { TaskerCore::Engine.start(workers: 0, logger: logger, templates: "/nonexistent/templates",
                                                    database_url: "memory:") }
      .to raise_error(TaskerCore::ValidationError)
    expect(described_class.loggers).not_to include(logger)
  end
end
