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

  # An engine (no handler threads unless `workers:` says otherwise) that knows the one template
  # `yaml`, registered as read from `source`; `options` go to {#start_engine}.
  def engine_with_template(yaml, source:, workers: 0, **options)
    engine = start_engine(templates: nil, workers: workers, **options)
    engine.register_template(yaml, source: source)
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

  # Runs `cycles` start/run/close cycles (after `warmup` more) on the store at `url` in a new
  # Ruby process and returns what {Cycles.measure} measured there. A process of its own: it
  # counts every thread, descriptor and session of its own, so nothing another spec left
  # behind (an engine the GC frees meanwhile, a pool connection timing out) moves a count.
  def engine_cycles_in_child(url, cycles:, warmup:)
    lib = File.expand_path("../../lib", __dir__)
    program = "$LOAD_PATH.unshift(#{lib.inspect}); Warning[:experimental] = false; require 'tasker_core'; " \
              "FIXTURES = #{FIXTURES.inspect}; require File.join(FIXTURES, 'handlers/recording'); " \
              "require #{__FILE__.inspect}; require 'json'; " \
              "puts JSON.generate(EngineHelpers::Cycles.measure(ARGV[0], Integer(ARGV[1]), Integer(ARGV[2])))"
    out = IO.popen([RbConfig.ruby, "-e", program, url, cycles.to_s, warmup.to_s], &:read)
    raise "the engine-cycles child failed (#{$?.inspect}): #{out}" unless $?.success?

    JSON.parse(out.lines.last)
  end

  # Issue 23, item 3: what start/run/close cycles leave behind, measured in the process that
  # runs them (see {EngineHelpers#engine_cycles_in_child}). One cycle starts an engine with two
  # workers on `url`, registers a two-step template, submits a task, waits for it and closes.
  module Cycles
    TEMPLATE = "name: cycle\nstep_templates:\n" \
               "  - { name: a, handler_class: Fixtures::NoopHandler }\n" \
               "  - { name: b, handler_class: Fixtures::NoopHandler, depends_on_step: a }\n"
    # Counts settle within seconds (Ruby 3.1 keeps a finished Ruby thread's native thread for
    # about 3 s for reuse; PostgreSQL ends a closed session's backend a moment after the
    # client leaves); the most waited for them, far above that, so a loaded machine never
    # trips it. Nothing is timed: a count that never returns fails on its value.
    SETTLE_SECONDS = 60

    module_function

    # @return [Hash] "threads" => [before any engine, after warm-up, after the cycles];
    #   "fds", "sessions" => [after warm-up, after the cycles]; "sessions_during" (one
    #   engine's, before it closes); "rss_kb" => [after warm-up, after the cycles], each
    #   after a full GC]
    def measure(url, cycles, warmup)
      # Sessions are counted by an application name of this process's own.
      url = "#{url}#{url.include?('?') ? '&' : '?'}application_name=tasker-cycles-#{Process.pid}" if postgres?(url)
      sessions(url) # its own connection first, so it is in every descriptor count
      threads_at_start = threads
      sessions_during = nil
      # The first cycles make what a process makes once (tokio's signal socket pair, Ruby's
      # and the allocators' working sets); the counts start after them, from no engine
      # thread and no session.
      warmup.times { cycle(url) }
      before = settled(url, threads: threads_at_start)
      GC.start
      rss_before = rss
      cycles.times { |i| cycle(url) { sessions_during ||= sessions(url) if i.zero? } }
      after = settled(url, **before)
      GC.start
      { "threads" => [threads_at_start, before[:threads], after[:threads]], "fds" => [before[:fds], after[:fds]],
        "sessions" => [before[:sessions], after[:sessions]], "sessions_during" => sessions_during,
        "rss_kb" => [rss_before, rss] }
    end

    def cycle(url)
      engine = TaskerCore::Engine.start(database_url: url, workers: 2, backoff_scale: 0.001, recover: false,
                                        instrument: false)
      engine.register_template(TEMPLATE)
      result = engine.wait_for_task(engine.submit_task("cycle", {}), timeout: 30)
      raise "a cycle's task ended #{result.status}" unless result.complete?

      yield if block_given?
    ensure
      engine&.close(timeout: 10)
    end

    # The counts once they equal `expected` (every key given), or as they are after
    # SETTLE_SECONDS.
    def settled(url, threads:, fds: nil, sessions: 0)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + SETTLE_SECONDS
      loop do
        # No GC here: what a closed engine holds must be released by `close`, not when Ruby
        # frees the engine object (before issue 23 the store's threads and the actors'
        # runtimes waited for that).
        now = { threads: self.threads, fds: self.fds, sessions: self.sessions(url) }
        return now if (now[:threads] == threads && (fds.nil? || now[:fds] == fds) && now[:sessions] == sessions) ||
                      Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

        sleep 0.05
      end
    end

    def threads = Dir.children("/proc/self/task").size
    def fds = Dir.children("/proc/self/fd").size
    def rss = File.read("/proc/self/status")[/VmRSS:\s+(\d+)/, 1].to_i
    def postgres?(url) = url.start_with?("postgres")

    # This process's engine sessions (by their application name); 0 on SQLite.
    def sessions(url)
      return 0 unless postgres?(url)

      require "pg"
      @pg ||= PG.connect(url.sub(/\?.*\z/, ""))
      @pg.exec_params("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                      ["tasker-cycles-#{Process.pid}"]).getvalue(0, 0).to_i
    end
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
