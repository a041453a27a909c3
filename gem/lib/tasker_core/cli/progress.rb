# frozen_string_literal: true

module TaskerCore
  class CLI
    # What a long command is doing, on one line of stderr rewritten in place ("validating
    # 12/300 files", "reading tasks from postgres://…"), erased before the command's own
    # output, so a person at a terminal knows it is working.
    #
    # Shown only when stderr is a terminal and the command is not printing JSON: a pipe, a
    # log file or a program reading `--json` gets no progress text. It must not write to
    # stdout, nor decide anything about the command's result.
    class Progress
      # Erases the line the cursor is on and returns to its start.
      CLEAR = "\r\e[K"

      # @param err [IO] the command's stderr
      # @param json [Boolean] the command prints JSON (no progress then)
      def initialize(err, json: false)
        @err = err
        @shown = !json && err.respond_to?(:tty?) && err.tty?
        @pending = false
      end

      # @return [Boolean] whether progress is being shown
      def shown? = @shown

      # Says what the command is doing now (replacing what was said before).
      # @param text [String]
      # @return [void]
      def say(text)
        return unless @shown

        @err.write("#{CLEAR}#{text}")
        @err.flush
        @pending = true
      end

      # Says how far along a count the command is: "validating 3/10 files".
      # @param doing [String] "validating"
      # @param done [Integer]
      # @param total [Integer]
      # @param unit [String] "files"
      # @return [void]
      def count(doing, done, total, unit)
        say("#{doing} #{done}/#{total} #{unit}")
      end

      # Runs the block while saying `text`, then erases it.
      # @param text [String]
      # @return [Object] the block's value
      def during(text)
        say(text)
        yield
      ensure
        clear
      end

      # Erases what was said (before the command prints its results).
      # @return [void]
      def clear
        return unless @pending

        @err.write(CLEAR)
        @err.flush
        @pending = false
      end
    end
  end
end
