# frozen_string_literal: true

module TaskerCore
  class CLI
    # `tasker-core graph TEMPLATE` or `graph --task ID`: a picture of a template's DAG, or of
    # a stored task's with its steps coloured by state, as SVG (laid out by the graph crate,
    # no Graphviz needed; the default), Mermaid or DOT text, on stdout or into `--output`. A
    # template with a dependency cycle is drawn rather than refused, so a broken one can be
    # looked at.
    class Graph < DatabaseCommand
      # One line for `tasker-core --help`.
      SUMMARY = "Draw a template's or a task's step graph (--format svg|mermaid|dot)"
      # What --format accepts.
      FORMATS = %w[svg mermaid dot].freeze

      # @return [String]
      def usage_arguments = "TEMPLATE_FILE | --task ID"

      # @param argv [Array<String>]
      # @param out [IO]
      # @param err [IO]
      def initialize(argv, out: $stdout, err: $stderr)
        super
        @task_id = nil
        @format = nil
        @output = nil
      end

      private

      def accepts_arguments? = true

      def define_command_options(parser)
        parser.on("--task ID", "A stored task's graph, its steps coloured by state (needs the database)") do |v|
          @task_id = id("--task", v)
        end
        parser.on("-f", "--format FORMAT", "#{FORMATS.join(', ')} (default: svg, drawn without Graphviz)") do |v|
          raise UsageError, "--format #{v}: not one of #{FORMATS.join(', ')}" unless FORMATS.include?(v)

          @format = v
        end
        parser.on("-o", "--output FILE", "Write to FILE instead of stdout") { |v| @output = v }
      end

      def execute(*paths)
        if @task_id
          raise UsageError, "give a template file or --task ID, not both" unless paths.empty?

          return super
        end
        raise UsageError, "give one template file (or --task ID)" unless paths.size == 1

        path = existing_path("TEMPLATE_FILE", paths.first)
        require_relative "../../tasker_core"
        draw(TemplateGraphAnalyzer.from_file(path))
      rescue TaskerCore::Error => e
        raise Failure, e.message
      end

      def perform(engine)
        draw(progress.during("reading task #{@task_id}") { engine.task(@task_id) })
      end

      # `source` answers to_svg, to_dot and to_mermaid.
      def draw(source)
        format = @format || "svg"
        text = progress.during("drawing the graph (#{format})") do
          case format
          when "mermaid" then source.to_mermaid
          when "dot" then source.to_dot
          else source.to_svg
          end
        end
        @output ? File.write(@output, text) : @out.write(text.end_with?("\n") ? text : "#{text}\n")
        CLI::EXIT_OK
      end
    end
  end
end
