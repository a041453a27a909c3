# frozen_string_literal: true

module TaskerCore
  module Rails
    # What this Rails process is for, as far as starting the engine goes. Servers, runners,
    # job workers, tests and plain scripts serve or work, so the engine starts there;
    # generators, consoles and schema or asset tasks do not: an engine there would create
    # tables during `db:schema:load`, hold connections that make `db:drop` fail, or take over
    # unfinished tasks in a console someone opened to look around.
    #
    # Read from what the `rails` command loaded (each command is a class loaded on demand)
    # and from Rake's top-level tasks; a process started any other way (Puma from
    # config.ru, Sidekiq, RSpec) counts as serving.
    class ProcessRole
      # `rails` commands that only look at or generate code.
      QUIET_COMMANDS = %i[GenerateCommand DestroyCommand ConsoleCommand RoutesCommand NotesCommand CredentialsCommand
                          EncryptedCommand SecretsCommand InitializersCommand].freeze
      # The rake task that runs this process as a worker: it starts the engine itself,
      # with `role: :worker` whatever `config.tasker_core.role` says.
      WORKER_TASK = "tasker_core:work"

      # @param skip_tasks [Array<String>] glob patterns of rake tasks that do not start it
      def initialize(skip_tasks:)
        @skip_tasks = skip_tasks
      end

      # @return [Symbol] :server, :runner, :generator, :console, :command, :worker_task,
      #   :skipped_task, :task or :other
      def kind
        @kind ||= if command?(:GenerateCommand) || command?(:DestroyCommand) then :generator
                  elsif defined?(::Rails::Console) || command?(:ConsoleCommand) then :console
                  elsif defined?(::Rails::Server) then :server
                  elsif command?(:RunnerCommand) then :runner
                  elsif QUIET_COMMANDS.any? { |c| command?(c) } then :command
                  elsif rake_tasks.include?(WORKER_TASK) then :worker_task
                  elsif rake_tasks.any? then rake_tasks.any? { |t| skipped?(t) } ? :skipped_task : :task
                  else :other
                  end
      end

      # Whether `autostart = :auto` starts the engine here. Not in `tasker_core:work`, which
      # starts a worker engine of its own (an autostarted one would be a second engine, or
      # a client in a web app's configuration).
      # @return [Boolean]
      def serves_or_works?
        %i[server runner task other].include?(kind)
      end

      # Names the process in log lines ("rails generate", "rake db:migrate").
      # @return [String]
      def to_s
        case kind
        when :generator then "rails generate"
        when :console then "rails console"
        when :server then "rails server"
        when :runner then "rails runner"
        when :skipped_task, :task, :worker_task then "rake #{rake_tasks.join(' ')}"
        when :command then "a rails command"
        else "this process"
        end
      end

      private

      def command?(name)
        defined?(::Rails::Command) && ::Rails::Command.const_defined?(name, false)
      end

      # The tasks Rake was asked to run (`rails db:migrate` runs Rake inside the rails
      # command, with an application of its own that Rake.application returns meanwhile).
      def rake_tasks
        @rake_tasks ||= if defined?(::Rake) && ::Rake.respond_to?(:application)
                          ::Rake.application.top_level_tasks.map { |t| t.sub(/\[.*\z/, "") }
                        else
                          []
                        end
      end

      def skipped?(task)
        @skip_tasks.any? { |pattern| File.fnmatch?(pattern, task) }
      end
    end
  end
end
