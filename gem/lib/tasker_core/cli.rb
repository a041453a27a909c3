# frozen_string_literal: true

require "optparse"
require_relative "version"
require_relative "cli/command"
require_relative "cli/progress"
require_relative "cli/worker_process"
require_relative "cli/work_config"
require_relative "cli/work"
require_relative "cli/validate"
require_relative "cli/database_command"
require_relative "cli/status"
require_relative "cli/tasks"
require_relative "cli/show_task"
require_relative "cli/graph"
require_relative "cli/task_operations"
require_relative "cli/web"

module TaskerCore
  # The `tasker-core` executable: `tasker-core COMMAND [options]`.
  #
  # Duties:
  # - pick the command from the first argument and hand it the rest;
  # - answer `--help` and `--version` without loading the native extension, so they work
  #   (and are fast) wherever Ruby runs;
  # - turn every failure into one line on stderr and a conventional exit status: 0 done,
  #   64 (EX_USAGE, sysexits.h) for a bad command line, 1 for anything else.
  #
  # A command is a {Command} subclass listed in {COMMANDS}; a new one (`validate`, `status`,
  # `tasks`, … of issue 18) is one more file under cli/ and one more line there.
  class CLI
    # The command finished.
    EXIT_OK = 0
    # Something failed at run time (the database could not be opened, a handler file raised).
    EXIT_FAILURE = 1
    # The command line is wrong (EX_USAGE): nothing was started.
    EXIT_USAGE = 64

    # Command name => class name, loaded on use.
    COMMANDS = { "work" => "TaskerCore::CLI::Work", "validate" => "TaskerCore::CLI::Validate",
                 "graph" => "TaskerCore::CLI::Graph", "status" => "TaskerCore::CLI::Status",
                 "tasks" => "TaskerCore::CLI::Tasks", "task" => "TaskerCore::CLI::ShowTask",
                 "retry" => "TaskerCore::CLI::RetryStep", "cancel" => "TaskerCore::CLI::CancelTask",
                 "resolve" => "TaskerCore::CLI::ResolveTask",
                 "web" => "TaskerCore::CLI::Web" }.freeze

    # Runs the executable with `argv` and returns its exit status.
    # @param argv [Array<String>]
    # @param out [IO] where help, version and logs go
    # @param err [IO] where errors go
    # @return [Integer]
    def self.start(argv = ARGV, out: $stdout, err: $stderr)
      new(out: out, err: err).run(argv.dup)
    end

    # @param out [IO]
    # @param err [IO]
    def initialize(out: $stdout, err: $stderr)
      @out = out
      @err = err
    end

    # @param argv [Array<String>] consumed
    # @return [Integer] the exit status
    def run(argv)
      name = argv.shift
      case name
      when nil, "-h", "--help", "help"
        return help(argv.first)
      when "-v", "--version", "version"
        @out.puts "tasker-core #{VERSION}"
        return EXIT_OK
      end
      command_class(name).new(argv, out: @out, err: @err).run
    rescue UsageError => e
      @err.puts "tasker-core#{" #{name}" if COMMANDS.key?(name)}: #{e.message} (see `tasker-core #{COMMANDS.key?(name) ? "#{name} " : ''}--help`)"
      EXIT_USAGE
    end

    private

    def command_class(name)
      class_name = COMMANDS.fetch(name) do
        raise UsageError, "unknown command #{name.inspect}; the commands are: #{COMMANDS.keys.join(', ')}"
      end
      Object.const_get(class_name)
    end

    def help(name)
      if name && COMMANDS.key?(name)
        @out.puts command_class(name).new([], out: @out, err: @err).parser
        return EXIT_OK
      end

      @out.puts <<~TEXT
        Usage: tasker-core COMMAND [options]

        Commands:
        #{COMMANDS.keys.map { |n| format('    %-10s %s', n, command_class(n)::SUMMARY) }.join("\n")}

        Options:
            -h, --help       this text; `tasker-core COMMAND --help` for a command's options
            -v, --version    the gem's version
      TEXT
      EXIT_OK
    end
  end
end
