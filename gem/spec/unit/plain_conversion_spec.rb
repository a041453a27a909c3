# frozen_string_literal: true

# The conversion of a context or result to JSON has a fast path for plain data (nil, true,
# false, Integers, Floats, Strings, Symbols, Arrays, Hashes) that runs no Ruby code, and
# falls back to the full conversion for anything else or anything refused. These pin that
# both give the same JSON or the same error for the values where they could differ: each
# value is converted once alone (the fast path, when it takes it) and once beside a Time,
# which only the full conversion takes, so that one goes the slow way from its start.
module PlainConversionSpec
  # A String subclass whose methods lie: the conversion reads the String's bytes, not them.
  class LoudString < String
    def to_s = "overridden"
    def to_str = "overridden"
  end

  # A Hash subclass whose iteration methods lie: the conversion reads the entries.
  class OddHash < Hash
    def each(...) = raise("each must not be called")
    def each_pair(...) = raise("each_pair must not be called")
    def keys = raise("keys must not be called")
  end

  # An Array subclass whose iteration methods lie.
  class OddArray < Array
    def each(...) = raise("each must not be called")
    def map(...) = raise("map must not be called")
  end

  # A value ActiveSupport-style: converted through as_json.
  class Money
    def as_json(*) = { "cents" => 125, "currency" => :eur }
  end
end

RSpec.describe "Converting plain Ruby values to JSON" do
  let(:engine) do
    engine_with_template("name: plain\nstep_templates:\n  - { name: a, handler_class: H }\n", source: "plain")
  end

  # What the engine stored for `{ "v" => value }`, or the error it raised, as [class, message].
  def stored(value, slow:)
    context = { "v" => value }
    context["force_slow"] = Time.utc(2000, 1, 1) if slow
    id = engine.submit_task("plain", context)
    stored = read_back(id)
    expect(stored.delete("force_slow")).to eq("2000-01-01T00:00:00.000000Z") if slow
    [:ok, stored]
  rescue StandardError => e
    [e.class, e.message]
  end

  def read_back(id)
    engine.flush
    engine.task_hash(id)["context"]
  end

  # The examples that convert each value alone (~120 tasks) took this file five minutes
  # under bin/test's GC.stress pass, a full GC at every allocation; that pass runs the one
  # below them that puts the same kinds of value through both paths at once.
  PLAIN_CONVERSION_SLOW_UNDER_GC_STRESS = ENV["TASKER_GC_STRESS"] == "1" && "slow under GC.stress; runs in the normal passes"

  def same_both_ways(value)
    fast = stored(value, slow: false)
    expect(fast).to eq(stored(value, slow: true))
    fast
  end

  it "converts plain values exactly as the full conversion does", skip: PLAIN_CONVERSION_SLOW_UNDER_GC_STRESS do
    big = 2**62 # a Bignum that fits 64 bits
    heap_float = 1.0e300 # not a flonum
    dynamic = :"dyn_#{Process.pid}_key"
    values = {
      "nil" => nil, "true" => true, "false" => false, "int" => -42, "fix_max" => 2**62 - 1,
      "bignum_i64" => big, "i64_min" => -2**63, "u64_max" => 2**64 - 1, "float" => 1.5,
      "heap_float" => heap_float, "neg_zero" => -0.0, "string" => "text", "frozen" => "f".freeze,
      "empty" => "", "utf8" => "café ☕", "ascii" => "plain".encode("US-ASCII"),
      "binary_ascii" => "bytes".b, "latin1" => "caf\xE9".dup.force_encoding("ISO-8859-1"),
      "utf16" => "wide".encode("UTF-16LE"), "symbol" => :rush, "unicode_symbol" => :café,
      "dynamic_symbol" => dynamic,
      "array" => [1, [2, [3]], {}], "empty_array" => [], "empty_hash" => {},
      "string_subclass" => PlainConversionSpec::LoudString.new("real"),
      "array_subclass" => PlainConversionSpec::OddArray[1, "two"],
      "as_json" => PlainConversionSpec::Money.new
    }
    values.each do |name, value|
      result = same_both_ways(value)
      expect(result.first).to eq(:ok), "#{name}: #{result.inspect}"
    end
    expect(same_both_ways(values["latin1"])).to eq([:ok, { "v" => "café" }])
    expect(same_both_ways(values["string_subclass"])).to eq([:ok, { "v" => "real" }])
    expect(same_both_ways(values["u64_max"])).to eq([:ok, { "v" => 2**64 - 1 }])
  end

  it "reads Hash entries the same way whatever the Hash's class, default or identity", skip: PLAIN_CONVERSION_SLOW_UNDER_GC_STRESS do
    with_default = Hash.new { |h, k| h[k] = "default for #{k}" }
    with_default["a"] = 1
    odd = PlainConversionSpec::OddHash.new
    odd["a"] = { "b" => [true] }
    by_identity = {}.compare_by_identity
    by_identity["k".dup] = 1
    by_identity["k".dup] = 2
    keyed = { sym: 1, "str" => 2, 7 => 3, -2**40 => 4, :"dyn_#{Process.pid}" => 5, café: 6, "b".b => 7 }
    # The deepest accepted: with the context around it, 100 levels of Hashes.
    deep = 98.times.reduce({ "leaf" => 1 }) { |inner, _| { "n" => inner } }

    expect(same_both_ways(with_default)).to eq([:ok, { "v" => { "a" => 1 } }])
    expect(with_default.keys).to eq(["a"]) # the default proc never ran
    expect(same_both_ways(odd)).to eq([:ok, { "v" => { "a" => { "b" => [true] } } }])
    expect(same_both_ways(by_identity)).to eq([:ok, { "v" => { "k" => 2 } }])
    expect(same_both_ways(keyed).last["v"])
      .to eq("sym" => 1, "str" => 2, "7" => 3, "-1099511627776" => 4, "dyn_#{Process.pid}" => 5, "café" => 6, "b" => 7)
    expect(same_both_ways(deep).first).to eq(:ok)
  end

  it "refuses the same values with the same error, storing nothing", skip: PLAIN_CONVERSION_SLOW_UNDER_GC_STRESS do
    looped = {}
    looped["self"] = looped
    too_deep = 127.times.reduce({ "leaf" => 1 }) { |inner, _| { "n" => inner } }
    bad = {
      "nan" => Float::NAN, "infinity" => Float::INFINITY, "too_big" => 2**64, "too_small" => -2**63 - 1,
      "nul" => "a\0b", "broken_utf8" => "\xff".dup.force_encoding("UTF-8"), "broken_binary" => "\xff".b,
      "object" => Object.new, "looped" => looped, "looped_in_array" => [1, [looped]], "too_deep" => too_deep,
      "nul_key" => { "a\0b" => 1 }, "float_key" => { 1.5 => 1 },
      # Symbols holding NUL, static and dynamic, as values and keys: refused as Strings are
      # (a static one's name used to be read up to the NUL, so `:"a\0b"` was stored as "a").
      "nul_symbol" => :"a\0b", "nul_dynamic_symbol" => "x\0y#{Process.pid}".to_sym,
      "nul_symbol_key" => { :"a\0b" => 1 }, "nul_dynamic_symbol_key" => { "k\0#{Process.pid}".to_sym => 1 },
      "binary_symbol" => "\xff".b.to_sym,
      "nil_key" => { nil => 1 }, "big_key" => { 2**64 => 1 }, "broken_key" => { "\xff".b => 1 },
      "bad_in_array" => [1, { "x" => Float::NAN }], "bad_after_good" => { "a" => 1, "b" => Object.new }
    }
    before = engine.stats[:tasks_submitted]
    bad.each do |name, value|
      result = same_both_ways(value)
      expect(result.first).not_to eq(:ok), "#{name} was accepted: #{result.inspect}"
      expect(result.first).to be <= TaskerCore::Error, "#{name}: #{result.inspect}"
    end
    engine.flush
    expect(engine.stats[:tasks_submitted]).to eq(before)
    expect(same_both_ways(bad["bad_in_array"]).last).to match(/context\.v\[1\]\.x: NaN is not a valid JSON number/)
    expect(same_both_ways(bad["nul_key"]).last).to match(/context\.v: hash key "a\\u0000b": string contains a NUL/)
    expect(same_both_ways(bad["nul_symbol"]).last).to match(/context\.v: string contains a NUL/)
    expect(same_both_ways(bad["nul_symbol_key"]).last).to match(/context\.v: hash key :"a\\x00b": string contains a NUL/)
    expect(same_both_ways(bad["binary_symbol"]).last).to match(/context\.v: symbol is not valid UTF-8/)
  end

  it "converts a value of every plain kind, and refuses a loop, the same both ways (also under GC.stress)" do
    looped = {}
    looped["self"] = looped
    mixed = { "s" => "café", sym: :rush, :"dyn_#{Process.pid}" => [1, 2.5, nil, true, false, -2**62],
              7 => { "deep" => [{ "x" => "y".b }], "frozen" => "f".freeze }, "sub" => PlainConversionSpec::LoudString.new("real") }
    expect(same_both_ways(mixed)).to eq([:ok, { "v" => { "s" => "café", "sym" => "rush",
                                                         "dyn_#{Process.pid}" => [1, 2.5, nil, true, false, -2**62],
                                                         "7" => { "deep" => [{ "x" => "y" }], "frozen" => "f" }, "sub" => "real" } }])
    expect(same_both_ways([1, [looped]]).first).to be <= TaskerCore::Error
  end

  it "converts a step's result the same way" do
    id = engine.submit_task("plain", {})
    step = engine.take_steps(max: 1, timeout: 60).first
    result = { ok: true, "list" => [1, 2.5, nil, :s], 3 => PlainConversionSpec::LoudString.new("x") }
    engine.native.complete_step(step.step_id, result)
    expect(engine.wait_for_task(id, timeout: 60).results["a"]).to eq("ok" => true, "list" => [1, 2.5, nil, "s"], "3" => "x")
  end
end
