# frozen_string_literal: true

require "rbconfig"
require "open3"

# A PostgreSQL store whose close runs out of its time limit (here: another session holds a
# lock on the processes table the close writes to) must still leave nothing that is freed
# outside the store's runtime later. The batch writer keeps its connection between batches
# (crates/state/src/sql/postgres/held.rs); one still kept when the runtime stopped was dropped
# by the engine's free, where sqlx panics, and the panic in a Ruby object's free aborted the
# VM (rb_bug, exit 134). In a child process, since that abort would end this run.
RSpec.describe "A store close that times out" do
  CLOSE_TIMEOUT_CHILD = <<~'RUBY'
    $LOAD_PATH.unshift ARGV.fetch(0)
    require "tasker_core"
    require "pg"
    class CloseTimeoutNoop < TaskerCore::BaseStepHandler
      def process(_context) = nil
    end
    url, lock_url, schema = ARGV[1], ARGV[2], ARGV[3]
    engine = TaskerCore::Engine.start(workers: 2, database_url: url, instrument: false)
    engine.register_template(<<~Y, source: "close_timeout")
      name: close_timeout
      namespace_name: spec
      step_templates:
        - { name: a, handler_class: CloseTimeoutNoop }
        - { name: b, handler_class: CloseTimeoutNoop, depends_on_step: a }
    Y
    3.times { raise "not complete" unless engine.wait_for_task(engine.submit_task("close_timeout", {}, namespace: "spec")).complete? }
    locker = PG.connect(lock_url)
    locker.exec("SET search_path = #{schema}")
    locker.exec("BEGIN")
    locker.exec("LOCK TABLE tasker_core_processes IN ACCESS EXCLUSIVE MODE")
    begin
      engine.close(timeout: 5)
    rescue TaskerCore::Error => e
      warn "close: #{e.message}"
    end
    locker.exec("ROLLBACK")
    locker.close
    engine = nil
    GC.start
    GC.start
    puts "freed"
  RUBY

  it "frees the engine afterwards without aborting Ruby" do
    skip "PostgreSQL only" unless SpecStore.postgres?

    Dir.mktmpdir("close-timeout") do |dir|
      url = SpecStore.isolated_url("close_timeout", dir)
      child = File.join(dir, "child.rb")
      File.write(child, CLOSE_TIMEOUT_CHILD)
      out, err, status = Open3.capture3(RbConfig.ruby, child, File.expand_path("../../lib", __dir__), url,
                                        SpecStore::PG_URL, "#{SpecStore::PG_SCHEMA}_close_timeout")
      expect(status.exitstatus).to eq(0), "the child ended #{status.inspect}: #{err.lines.last(5).join}"
      expect(out).to include("freed")
    end
  end
end
