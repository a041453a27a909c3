# frozen_string_literal: true

require "rbconfig"

# Worker processes for the multi-process specs (processes_spec.rb, postgres_restart_spec.rb):
# spec/bin/worker_child.rb, which starts a worker engine, registers the templates, says
# "ready" and logs every step it runs; and the 4-step chain they run.
module WorkerChildren
  WORKER_CHILD = File.expand_path("../bin/worker_child.rb", __dir__)
  SHARED_CHAIN = <<~YAML
    name: shared_chain
    namespace_name: processes
    version: 1.0.0
    step_templates:
      - { name: a, handler_class: SharedChainHandler, default_retry_limit: 5 }
      - { name: b, handler_class: SharedChainHandler, default_retry_limit: 5, depends_on_step: a }
      - { name: c, handler_class: SharedChainHandler, default_retry_limit: 5, depends_on_step: b }
      - { name: d, handler_class: SharedChainHandler, default_retry_limit: 5, depends_on_step: c }
  YAML

  # Starts a worker on `url` with `template` (a file or a directory), logging to `log`;
  # returns its pid once it says it is ready.
  def spawn_worker(url, template, log)
    reader, writer = IO.pipe
    pid = Process.spawn(RbConfig.ruby, WORKER_CHILD, url, template, log, out: writer)
    writer.close
    raise "worker #{pid} did not start" unless reader.wait_readable(60) && reader.gets == "ready\n"

    reader.close
    pid
  end
end
