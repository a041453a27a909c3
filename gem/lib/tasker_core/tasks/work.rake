# frozen_string_literal: true

# bin/rails tasker_core:work — a worker process for a Rails app, the equivalent of
# `bundle exec sidekiq` or Solid Queue's `bin/jobs`.
#
# Loads the app (`:environment`), starts a worker-role engine with config.tasker_core's
# settings — a worker even where the app's web processes are clients (`role = :client`) —
# and runs claimed tasks' steps until TERM or INT. The first signal stops gracefully
# (running steps get `shutdown_timeout` seconds, then are handed back); a second hands back
# at once. The initializer's autostart leaves this process to the task (ProcessRole).
namespace :tasker_core do
  desc "Run workflow steps until TERM or INT: a worker process on the app's database (see docs/processes.md)"
  task work: :environment do
    # Exit status 1 when the stop was abandoned (see TaskerCore::CLI::WorkerProcess#run).
    exit 1 if TaskerCore::Rails.work == :abandoned
  end
end
