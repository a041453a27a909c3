# frozen_string_literal: true

# The Sidekiq side of benches/workload.rb (issue 15's baseline): the same chained 4-step
# workflow as fixtures/templates/patterns/linear.yaml with no-op handlers, as a Sidekiq
# user writes it. Job 1 enqueues job 2, …, job 4 records the workflow's completion with an
# LPUSH of its id to {SidekiqWorkload::RESULTS}, which the driver reads back (BLPOP).
#
# Loaded twice: by the Sidekiq server the bench starts as a child process
# (`sidekiq -r ./benches/support/sidekiq_workload.rb -c 4 -q workload_bench`) and by the
# driver (benches/support/workload_sidekiq.rb), which enqueues with the same classes.
# Redis: SIDEKIQ_WORKLOAD_REDIS_URL (the driver sets it to a db number of its own).

require "sidekiq"

# redis-rb 4.8 warns on every Sidekiq enqueue (its `sadd` return value changes in 5.0): a
# line per job would be the bench's main output and cost.
Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)

module SidekiqWorkload
  REDIS_URL = ENV.fetch("SIDEKIQ_WORKLOAD_REDIS_URL", "redis://127.0.0.1:6379/13")
  QUEUE = "workload_bench"
  RESULTS = "workload_bench:done"
  STEPS = 4

  # Every step is the same no-op job; `step` says which one it is, so the last one can
  # record the completion instead of enqueueing a successor.
  class Step
    include Sidekiq::Worker
    # Not retried and not kept as dead: the chain is the measured work, nothing else.
    sidekiq_options queue: QUEUE, retry: false, backtrace: false

    def perform(workflow_id, step)
      if step < STEPS
        Step.perform_async(workflow_id, step + 1)
      else
        Sidekiq.redis { |r| r.lpush(RESULTS, workflow_id) }
      end
    end
  end
end

Sidekiq.configure_server { |config| config.redis = { url: SidekiqWorkload::REDIS_URL } }
Sidekiq.configure_client { |config| config.redis = { url: SidekiqWorkload::REDIS_URL } }
