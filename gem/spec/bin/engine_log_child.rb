# frozen_string_literal: true

# The engine log spec's child process: writes messages as the engine's threads do before
# any engine is open, while one with a logger is open, from a forked child of it, after it
# closed, and just before the process exits with an engine still open. stdout: what reached
# the loggers; stderr: what did not.
#
#   ruby engine_log_child.rb

$LOAD_PATH.unshift File.expand_path("../../lib", __dir__)
Warning[:experimental] = false
require "tasker_core"
require "logger"
require "stringio"

def from_engine(message) = TaskerCore::Native::Diagnostics.log_from_engine_thread("warn", message)

logged = StringIO.new
from_engine("m1: before any engine")
engine = TaskerCore::Engine.start(workers: 0, logger: Logger.new(logged), database_url: "memory:")
from_engine("m2: while open")
deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 10
sleep 0.01 until logged.string.include?("m2") || Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
pid = fork do
  from_engine("m3: in a forked child")
  exit!(0)
end
Process.wait(pid)
engine.close
from_engine("m4: after close")
$stdout.write(logged.string)
$stdout.flush
# An engine never closed: what its threads said last is written at exit, to its logger.
TaskerCore::Engine.start(workers: 0, logger: Logger.new($stdout), database_url: "memory:")
from_engine("m5: just before exit")
