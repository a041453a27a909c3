# frozen_string_literal: true

require "json"
require "psych"

module TaskerCore
  class CLI
    # `tasker-core validate PATH…`: checks template files as registration would, for CI and
    # editors. Each file (a directory gives its *.yml and *.yaml, recursively) is registered
    # into an in-process engine with no database, so the checks are registration's own
    # (YAML, required keys, types, unknown or cyclic dependencies, duplicate names, the
    # `environments:` overrides); with `--require`, each step's handler class must also load.
    #
    # One line per problem, `path:line: message`, the line found from the YAML (the step's
    # entry for a step's problem); a file's first problem stops its checks. Exit status 0
    # when every file is valid, 1 when one is not, 64 for a bad command line.
    class Validate < Command
      # One line for `tasker-core --help`.
      SUMMARY = "Check template files as registration would; one `path:line: problem` each, exit 1 if any"
      # What a directory contributes.
      TEMPLATE_GLOB = "**/*.{yml,yaml}"

      # @param argv [Array<String>]
      # @param out [IO] the results
      # @param err [IO] errors
      def initialize(argv, out: $stdout, err: $stderr)
        super
        @requires = []
        @environment = nil
        @json = false
      end

      # @return [String]
      def usage_arguments = "PATH..."

      private

      def accepts_arguments? = true

      def define_options(parser)
        parser.on("-r", "--require FILE", "Ruby file to load first (step handlers); then every step's " \
                                          "handler_class must load. A directory loads its **/*.rb. " \
                                          "Repeatable") { |v| @requires << existing_path("--require", v) }
        parser.on("-e", "--environment NAME", "Applies the templates' `environments:` overrides for NAME") do |v|
          @environment = v
        end
        parser.on("--json", "One JSON document: [{path, valid, line, task, error}]") { @json = true }
      end

      def execute(*paths)
        raise UsageError, "give at least one template file or directory" if paths.empty?

        files = paths.flat_map { |path| template_files(path) }
        require_relative "../../tasker_core"
        progress.during("loading #{@requires.size} handler path(s)") { load_code(UsageError) } unless @requires.empty?
        engine = Engine.start(database_url: "memory:", workers: 0, recover: false, instrument: false,
                              environment: @environment)
        results = begin
          files.each_with_index.map do |file, i|
            progress.count("validating", i + 1, files.size, files.size == 1 ? "file" : "files")
            check(engine, file)
          end
        ensure
          progress.clear
          engine.close
        end
        report(results)
        results.all? { |r| r[:valid] } ? CLI::EXIT_OK : CLI::EXIT_FAILURE
      end

      def template_files(path)
        raise UsageError, "#{path}: no such file or directory" unless File.exist?(path)
        return [path] unless File.directory?(path)

        found = Dir.glob(File.join(path, TEMPLATE_GLOB)).sort
        raise UsageError, "#{path}: no *.yml or *.yaml file in it" if found.empty?

        found
      end

      # @return [Hash] path:, valid:, line:, task:, error:
      def check(engine, file)
        text = File.read(file)
        task = engine.register_template(text, source: file).first
        namespace, rest = task.split("/", 2)
        info = engine.native.template_info(*rest.split("@", 2).insert(1, namespace))
        missing = @requires.empty? ? [] : unloaded_handlers(engine, info)
        return { path: file, valid: true, line: nil, task: task, error: nil } if missing.empty?

        step, handler = missing.first
        { path: file, valid: false, line: TemplateLines.new(text).step(step, keys: ["handler_class"]), task: task,
          error: "step '#{step}': handler class #{handler} is not loaded (#{missing.size} unloaded in this template)" }
      rescue TaskerCore::Error, SystemCallError => e
        message = e.message.delete_prefix(file).sub(/\A(: | \(task [^)]*\), )/, "")
        { path: file, valid: false, line: TemplateLines.new(text.to_s).for(message), task: nil, error: message }
      end

      def unloaded_handlers(engine, info)
        info.fetch("steps").filter_map do |step|
          engine.resolver.handler_class(step["handler_class"])
          nil
        rescue HandlerNotFoundError
          [step["name"], step["handler_class"]]
        end
      end

      def report(results)
        return @out.puts(JSON.pretty_generate(results)) if @json

        results.each do |r|
          @out.puts(r[:valid] ? "ok   #{r[:path]} (#{r[:task]})" : "#{r[:path]}:#{r[:line] || 1}: #{r[:error]}")
        end
        invalid = results.count { |r| !r[:valid] }
        @out.puts "#{results.size} #{results.size == 1 ? 'template' : 'templates'}, #{invalid} invalid"
      end

      # Where things stand in a template's text, from Psych's parse tree (1-based lines).
      class TemplateLines
        # Where a step's dependencies are written (a problem with one points there).
        DEPENDENCY_KEYS = %w[depends_on_step depends_on_steps].freeze

        # @param text [String]
        def initialize(text)
          @root = begin
            Psych.parse(text)&.root
          rescue Psych::Exception
            nil
          end
        end

        # The line a registration message is about: a step's entry, a YAML error's line,
        # else the top-level key the message names, else nil.
        # @param message [String]
        # @return [Integer, nil]
        def for(message)
          if (m = message.match(/\Astep '([^']*)': (?:(\w+): )?/))
            keys = m[2] ? [m[2]] : []
            keys = DEPENDENCY_KEYS if keys.empty? && message.include?("dependenc")
            return step(m[1], keys: keys, last: message.include?("duplicate step name"))
          end
          return Integer(m[1]) if (m = message.match(/at line (\d+)/))

          top_level_keys.find { |key, _line| message.include?(key) }&.last
        end

        # The line of the step named `name` (the last of that name with `last:`), or of the
        # first of `keys` it has.
        # @return [Integer, nil]
        def step(name, keys: [], last: false)
          steps = mapping_value(@root, "step_templates")
          return nil unless steps.is_a?(Psych::Nodes::Sequence)

          entries = steps.children.select { |s| scalar(mapping_value(s, "name")) == name }
          entry = last ? entries.last : entries.first
          return nil unless entry

          key_node = entry.children.each_slice(2).find { |k, _v| keys.include?(scalar(k)) }&.first
          (key_node || entry).start_line + 1
        end

        private

        def top_level_keys
          return [] unless @root.is_a?(Psych::Nodes::Mapping)

          @root.children.each_slice(2).filter_map { |k, _v| [k.value, k.start_line + 1] if k.is_a?(Psych::Nodes::Scalar) }
        end

        def mapping_value(node, key)
          return nil unless node.is_a?(Psych::Nodes::Mapping)

          node.children.each_slice(2).find { |k, _v| scalar(k) == key }&.last
        end

        def scalar(node) = node.is_a?(Psych::Nodes::Scalar) ? node.value : nil
      end
    end
  end
end
