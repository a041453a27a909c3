# frozen_string_literal: true

require "active_job"

module TaskerCore
  # Submits a task later, from a job queue: for a model callback or a request that must
  # not wait, or a process that runs no engine (the job runs where one does).
  #
  #   TaskerCore::SubmitTaskJob.perform_later("fulfil_order", { "order_id" => order.id }, namespace: "shop")
  #   TaskerCore::SubmitTaskJob.set(queue: :workflows, wait: 5.minutes).perform_later("nightly_report")
  #
  # The job waits until the task's creation is committed (`durable: true`, unless the
  # options say otherwise), so a job the queue counts as done never loses its task. A job
  # run twice (queues deliver at least once) submits one task: its identity is the job's
  # id (`caller_provided`), which stays the same across deliveries and retries of one
  # enqueued job. Pass `identity:` to choose another (`:always_unique` for the old
  # behaviour).
  class SubmitTaskJob < ActiveJob::Base
    queue_as :default

    # @param name [String] the template's name
    # @param context [Hash] the task's context (JSON-compatible)
    # @param options [Hash] as for {Engine#submit_task}: namespace:, version:, initiator:,
    #   source_system:, reason:, tags:, durable:, identity:, run_at: (a Time; ActiveJob
    #   serializes it), delay: (seconds from when the job runs, not from when it was enqueued)
    # @return [Integer] the task id (the first delivery's task for a repeat)
    # @raise [OrchestrationError] when no engine runs in this process (the job is retried
    #   as your queue retries failed jobs)
    def perform(name, context = {}, **options)
      unless TaskerCore.engine
        raise OrchestrationError, "#{self.class.name}: no tasker-core engine runs in this process " \
                                  "(config.tasker_core.enabled or autostart leaves it stopped)"
      end

      TaskerCore.submit(name, context, **{ durable: true, identity: { key: "#{self.class.name}/#{job_id}" } }.merge(options))
    end
  end
end
