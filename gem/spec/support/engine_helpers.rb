# frozen_string_literal: true

# Starting engines in specs: a short backoff so the real retry schedule runs in
# milliseconds, and every engine a spec starts is stopped after it.
module EngineHelpers
  TEMPLATES = File.join(FIXTURES, "templates")

  # Engines start without recovery so one spec never adopts another's unfinished tasks in a
  # shared PostgreSQL database; the recovery specs turn it on.
  def start_engine(templates: TEMPLATES, workers: 4, backoff_scale: 0.001, database_url: SpecStore.url,
                   recover: false, instrument: false, **options)
    engine = TaskerCore::Engine.start(templates: templates, workers: workers, backoff_scale: backoff_scale,
                                      database_url: database_url, recover: recover, instrument: instrument, **options)
    (@engines ||= []) << engine
    engine
  end

  # The next item of `queue`, waiting at most `seconds` for one. Ruby 3.1's Queue#pop has no
  # timeout: `pop(timeout: 5)` there is `pop(non_block = {timeout: 5})`, a non-blocking pop
  # that raises at once when an event is still on its way (a spec failed that way by chance).
  def pop_within(queue, seconds)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
    loop do
      return queue.pop(true)
    rescue ThreadError
      raise "nothing arrived within #{seconds} s" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.002
    end
  end

  def stop_engines
    # close, not just stop: a PostgreSQL store would otherwise keep its connections until
    # the engine object is garbage-collected.
    (@engines || []).each { |e| e.close(timeout: 5) }
    @engines = []
  end

  # Native threads of a running engine: the System thread ("tasker-engine") and its
  # arbiters ("actix-rt|…"), as the kernel lists them. (A SQL store's own threads stay for
  # reads after `stop` and end when the engine object is freed.)
  def rust_engine_thread_count
    Dir.children("/proc/self/task").count do |tid|
      File.read("/proc/self/task/#{tid}/comm").start_with?("tasker-engine", "actix")
    rescue Errno::ENOENT
      false
    end
  end

  # Live Ruby threads of worker pools and coordinators. (Counted through Ruby, not the
  # kernel: Ruby 3.1 keeps finished threads' native threads cached for reuse.)
  def ruby_engine_thread_count
    Thread.list.count { |t| t.alive? && t.name&.start_with?("tasker-") }
  end

  def engine_thread_count = rust_engine_thread_count + ruby_engine_thread_count

  # Resident memory in kB.
  def rss_kb
    File.read("/proc/self/status")[/VmRSS:\s+(\d+)/, 1].to_i
  end

  def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  # Writes `yaml` to a temporary file and returns its path.
  def template_file(yaml, name = "template.yaml")
    dir = Dir.mktmpdir("tasker-spec")
    path = File.join(dir, name)
    File.write(path, yaml)
    path
  end
end
