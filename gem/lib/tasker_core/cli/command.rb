# frozen_string_literal: true

require "optparse"

module TaskerCore
  class CLI
    # A bad command line: the message names the option and the value (exit status 64).
    class UsageError < StandardError; end

    # What every `tasker-core` command shares: an OptionParser with `--help`, option values
    # checked as they are read (so the error names the option, not a later symptom), and
    # the IOs to write to.
    #
    # A subclass sets SUMMARY, defines #define_options(parser) and #execute, and returns an
    # exit status from #execute.
    class Command
      # @param argv [Array<String>] the arguments after the command's name
      # @param out [IO]
      # @param err [IO]
      def initialize(argv, out: $stdout, err: $stderr)
        @argv = argv
        @out = out
        @err = err
        @help = false
      end

      # Parses the arguments, then runs the command (or prints its help).
      # @return [Integer] the exit status
      # @raise [UsageError] for a bad command line
      def run
        rest = parse(@argv)
        if @help
          @out.puts parser
          return CLI::EXIT_OK
        end
        raise UsageError, "unexpected argument #{rest.first.inspect}" unless rest.empty? || accepts_arguments?

        execute(*rest)
      end

      # The command's option parser (its #to_s is the help text).
      # @return [OptionParser]
      def parser
        @parser ||= OptionParser.new do |parser|
          parser.banner = "Usage: tasker-core #{name} [options]#{" #{usage_arguments}" if usage_arguments}"
          parser.separator ""
          parser.separator self.class::SUMMARY
          parser.separator ""
          define_options(parser)
          parser.separator ""
          parser.on("-h", "--help", "This text") { @help = true }
        end
      end

      # Progress on stderr while the command works (a terminal only, never with --json).
      # @return [Progress]
      def progress
        @progress ||= Progress.new(@err, json: @json ? true : false)
      end

      # What follows the options on the command line, for the help's first line (nil: nothing).
      # @return [String, nil]
      def usage_arguments = nil

      # The command's name on the command line.
      # @return [String]
      def name
        CLI::COMMANDS.key(self.class.name)
      end

      private

      # Whether arguments other than options are allowed (`validate PATH…` will say yes).
      def accepts_arguments? = false

      # OptionParser's own errors ("invalid option: --wrokers") already name the option;
      # they become UsageErrors with the same text on one line (did_you_mean adds lines).
      def parse(argv)
        parser.parse(argv)
      rescue OptionParser::ParseError => e
        first, *suggestions = e.message.lines.map(&:strip).reject(&:empty?)
        suggestions = suggestions.join(" ").sub(/\ADid you mean\?\s*/, "").split
        raise UsageError, suggestions.empty? ? first : "#{first} (did you mean #{suggestions.map { |s| "--#{s}" }.join(' or ')}?)"
      end

      def integer(option, value, min:)
        number = Integer(value, 10, exception: false)
        return number if number && number >= min

        raise UsageError, "#{option} expects an integer >= #{min}, got #{value.inspect}"
      end

      def seconds(option, value)
        number = Float(value, exception: false)
        return number if number&.positive? && number.finite?

        raise UsageError, "#{option} expects a number of seconds > 0, got #{value.inspect}"
      end

      def existing_path(option, value)
        return File.expand_path(value) if File.exist?(value)

        raise UsageError, "#{option} #{value}: no such file or directory"
      end

      # Requires the --require paths in @requires (a directory: its **/*.rb, sorted), so handler
      # classes exist before templates register; a file that fails raises +error+ naming it.
      def load_code(error)
        @requires.flat_map { |path| File.directory?(path) ? Dir.glob(File.join(path, "**", "*.rb")).sort : [path] }
                 .each do |file|
          require file
        rescue ScriptError, StandardError => e
          raise error, "--require #{file}: #{e.class}: #{e.message}"
        end
      end

      # Stores tasker-core opens: SQLite files, PostgreSQL, or the in-process store.
      DATABASE_URL = %r{\A(sqlite:|postgres(ql)?://|memory:)}.freeze

      def database_url(option, value)
        return value if value.match?(DATABASE_URL)

        # Not Engine.redact: a bad command line is refused before the extension loads.
        shown = value.sub(%r{(//[^/@:]*:)[^/@]*@}, "\\1***@")
        raise UsageError, "#{option} expects sqlite://PATH, postgres://USER@HOST/DATABASE or memory:, got #{shown.inspect}"
      end
    end
  end
end
