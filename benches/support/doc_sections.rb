# frozen_string_literal: true

module Bench
  # Where sections go in docs/benchmarks.md when `rake bench` rewrites it. Owns two things:
  # placing a generated section before "How each number was measured", and carrying the
  # hand-written sections of the previous document over into the new one. Renders nothing
  # itself and reads no bench results.
  #
  # Why carry-over: the document is generated from the numbers of one run, but findings
  # measured by hand (A/B rounds of two builds, callgrind counts, 1,000,000-row listings)
  # live beside the generated tables. Before this, every `rake bench` dropped them and a
  # session had to paste them back. A hand-written block is wrapped in
  #
  #   <!-- kept: written by hand, carried over by rake bench -->
  #   ...
  #   <!-- /kept -->
  #
  # and belongs to the nearest generated heading above it: in the new document it goes at
  # the end of that heading's section (before the next heading of the same or a higher
  # level), blocks of one heading in their old order. A block whose heading is gone is put
  # at the end of the document, with a warning, rather than lost.
  module DocSections
    KEPT_OPEN = "<!-- kept: written by hand, carried over by rake bench -->"
    KEPT_CLOSE = "<!-- /kept -->"
    METHOD_HEADING = "## How each number was measured"

    module_function

    # Inserts `markdown` before "How each number was measured" (or at the end).
    # @param doc [String] path of the document
    # @param markdown [String] a rendered section
    # @return [void]
    def insert_before_method(doc, markdown)
      text = File.read(doc)
      anchor = text.index(METHOD_HEADING) || text.length
      File.write(doc, text.dup.insert(anchor, "#{markdown}\n"))
    end

    # Puts the kept blocks of `old_text` into the document at `doc`.
    # @param old_text [String] the document before this run rewrote it
    # @param doc [String] path of the rewritten document
    # @return [Integer] how many blocks were carried over
    def carry_over(old_text, doc)
      blocks = kept_blocks(old_text)
      return 0 if blocks.empty?

      lines = File.read(doc).lines
      blocks.group_by(&:first).each do |anchor, group|
        text = group.map(&:last).join
        at = end_of_section(lines, anchor)
        if at
          text = "\n#{text}" unless at.zero? || lines[at - 1].strip.empty?
          text = "#{text}\n" if at < lines.size
          lines.insert(at, *text.lines)
        else
          warn "docs/benchmarks.md: the heading #{anchor.inspect} is gone; its hand-written block goes at the end"
          lines.concat(["\n", *text.lines])
        end
      end
      File.write(doc, lines.join)
      blocks.size
    end

    # @return [Array<(String, String)>] each kept block with the generated heading above it
    def kept_blocks(text)
      blocks = []
      anchor = nil
      current = nil
      each_line_outside_fences(text.lines) do |line, fenced|
        if current
          current << line
          if line.strip == KEPT_CLOSE
            blocks << [anchor, current.join]
            current = nil
          end
        elsif line.strip == KEPT_OPEN
          current = [line]
        elsif !fenced && heading_level(line)
          anchor = line.chomp
        end
      end
      raise "docs/benchmarks.md: a #{KEPT_OPEN} block is not closed" if current

      blocks
    end

    # Index of the line before which a block under `anchor` goes, or nil.
    def end_of_section(lines, anchor)
      start = nil
      level = nil
      each_line_outside_fences(lines).with_index do |(line, fenced), i|
        next if fenced

        if start.nil?
          next unless line.chomp == anchor

          start = i
          level = heading_level(line)
        elsif (l = heading_level(line)) && l <= level
          return i
        end
      end
      start && lines.size
    end

    def heading_level(line)
      m = line.match(/\A(#+) /)
      m && m[1].size
    end

    # Yields each line with whether it sits inside a ``` fence (a fence line counts as fenced).
    def each_line_outside_fences(lines)
      return enum_for(:each_line_outside_fences, lines) unless block_given?

      fenced = false
      lines.each do |line|
        fence = line.start_with?("```")
        fenced = !fenced if fence
        yield line, fenced || fence
      end
    end
  end
end
