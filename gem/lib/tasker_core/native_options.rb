# frozen_string_literal: true

module TaskerCore
  module Native
    # The optional arguments of `Native::Engine#submit(name, context, options)`, built by
    # {Submitter}. The extension reads the fields by position and checks these members
    # against its own list (crates/binding/src/ruby_api/engine/mod.rs) once per process:
    # keep the order. A Struct, not a Hash, so a submit pays for one small object, and so a
    # bad value's error names its field ("submit option namespace: expected a String").
    SubmitOptions = Struct.new(:namespace, :version, :initiator, :source_system, :reason, :tags, :start,
                               :durable_timeout, :run_at, :priority)

    # The arguments of `Native::Engine#operate(task_id, operation, options)` beyond the
    # task and the operation, built by {Task} and {Step}; read like {SubmitOptions}
    # (crates/binding/src/ruby_api/engine/operations.rs).
    OperateOptions = Struct.new(:step_id, :payload, :reason, :expect_sort_key, :timeout)
  end
end
