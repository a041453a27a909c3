# frozen_string_literal: true

# bin/rails tasker_core:cleanup — deletes finished tasks (complete, cancelled,
# resolved_manually) older than config.tasker_core.retention seconds, or OLDER_THAN=seconds,
# with all their rows, a batch per transaction (BATCH_SIZE=n, default 1,000). Unfinished
# tasks and tasks in error are never deleted. Run it from cron when the engines themselves
# do not run retention, or once to clear a backlog.
namespace :tasker_core do
  desc "Delete finished tasks older than config.tasker_core.retention (or OLDER_THAN=seconds)"
  task cleanup: :environment do
    deleted = TaskerCore::Rails.cleanup(older_than: ENV.fetch("OLDER_THAN", nil),
                                        batch_size: ENV.fetch("BATCH_SIZE", nil))
    puts "tasker-core: deleted #{deleted[:deleted_tasks]} finished tasks " \
         "(#{deleted[:deleted_steps]} steps) older than #{deleted[:older_than]} s"
  end
end
