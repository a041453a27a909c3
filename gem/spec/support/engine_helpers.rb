# frozen_string_literal: true

# Starting engines in specs: a short backoff so the real retry schedule runs in
# milliseconds, and every engine a spec starts is stopped after it.
module EngineHelpers
  TEMPLATES = File.join(FIXTURES, "templates")

  def start_engine(templates: TEMPLATES, workers: 4, backoff_scale: 0.001, **options)
    engine = TaskerCore::Engine.start(templates: templates, workers: workers, backoff_scale: backoff_scale, **options)
    (@engines ||= []) << engine
    engine
  end

  def stop_engines
    (@engines || []).each { |e| e.stop(timeout: 5) unless e.stopped? }
    @engines = []
  end

  # Threads of this process, as the kernel counts them (Ruby and Rust alike).
  def os_thread_count
    Dir.children("/proc/self/task").size
  end

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
