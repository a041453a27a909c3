# frozen_string_literal: true

require "tmpdir"
require_relative "../../../benches/support/doc_sections"

# `rake bench` rewrites docs/benchmarks.md from one run's numbers; the hand-written blocks of
# the old document must come through under the same generated heading, none lost.
RSpec.describe Bench::DocSections do
  kept = ->(body) { "#{described_class::KEPT_OPEN}\n#{body}#{described_class::KEPT_CLOSE}\n" }

  let(:old_doc) do
    [
      "# Benchmarks\n\n## Small workflows\n\n",
      "```\n# a shell comment, not a heading\n```\n\n",
      "### Against the targets\n\nold numbers\n\n",
      kept.call("### A round by hand\n\nab\n"),
      "### How measured\n\nold method\n\n## Engine cycles\n\ncycles\n\n",
      kept.call("## Fuzzing\n\nseeds\n"),
      kept.call("## Retention\n\nrows\n"),
      "## Gone section\n\n",
      kept.call("## Orphan\n\nx\n")
    ].join
  end

  let(:new_doc) do
    <<~MD
      # Benchmarks

      ## Small workflows

      ### Against the targets

      new numbers

      ### How measured

      new method

      ## Engine cycles

      new cycles

      ## How each number was measured

      method
    MD
  end

  it "puts each kept block at the end of its heading's section, in order, and the orphan last" do
    Dir.mktmpdir do |dir|
      path = File.join(dir, "benchmarks.md")
      File.write(path, new_doc)
      count = nil
      expect { count = described_class.carry_over(old_doc, path) }.to output(/Gone section/).to_stderr
      text = File.read(path)

      expect(count).to eq(4)
      expect(text).to include("new numbers\n\n#{kept.call("### A round by hand\n\nab\n")}\n### How measured")
      expect(text).to include("new cycles\n\n#{kept.call("## Fuzzing\n\nseeds\n")}#{kept.call("## Retention\n\nrows\n")}\n" \
                              "## How each number was measured")
      expect(text).to end_with(kept.call("## Orphan\n\nx\n"))
      expect(text).not_to include("old numbers")
    end
  end

  it "carries the blocks over unchanged when run twice (a second rake bench keeps them once)" do
    Dir.mktmpdir do |dir|
      path = File.join(dir, "benchmarks.md")
      File.write(path, new_doc)
      described_class.carry_over(old_doc.sub(/## Gone section.*\z/m, ""), path)
      once = File.read(path)
      File.write(path, new_doc)
      described_class.carry_over(once, path)
      expect(File.read(path)).to eq(once)
    end
  end

  it "refuses a block that is never closed" do
    expect { described_class.kept_blocks("## A\n#{described_class::KEPT_OPEN}\ntext\n") }
      .to raise_error(RuntimeError, /not closed/)
  end
end
