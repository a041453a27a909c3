# frozen_string_literal: true

module TaskerCore
  # Reads the values callers hand to the public API before they reach the native layer,
  # which would refuse a bad one with a foreign exception (EncodingError for a String that
  # is not UTF-8, TypeError, RangeError, ArgumentError for a NUL byte in a path). Each
  # reader raises {ValidationError} naming the input instead, so a caller rescuing
  # {TaskerCore::Error} sees every bad input (issue 23).
  #
  # Hot paths (submitting, completing) do not call these up front: they rescue the native
  # layer's EncodingError and explain it with {Inputs.explain_encoding}, so a good call pays
  # nothing. Every method is Ractor-safe (no state).
  module Inputs
    module_function

    # A name (template, namespace, version, event pattern) as a UTF-8 String.
    # @param value [String, Symbol]
    # @param what [String] names the input in the error ("submit_task name")
    # @return [String] UTF-8 (a copy when it had to be transcoded)
    # @raise [ValidationError] not a String or Symbol, or not UTF-8 text
    def name(value, what)
      value = value.name if value.is_a?(Symbol)
      raise ValidationError, "#{what}: expected a String, got #{short(value)}" unless value.is_a?(String)

      utf8(value) || raise(ValidationError, "#{what}: #{not_utf8(value)}")
    end

    # Free text that only describes something (a failure's message or error class): UTF-8,
    # with whatever cannot be read as UTF-8, and NUL characters (which PostgreSQL cannot
    # store), replaced by U+FFFD. Never refused, so a handler whose exception message holds
    # binary data still gets its failure recorded.
    # @param value [Object] anything; not a String: its #to_s
    # @return [String] UTF-8
    def text(value)
      value = value.to_s
      value = utf8(value) || value.dup.force_encoding(Encoding::UTF_8).scrub
      value.include?("\0") ? value.tr("\0", "\uFFFD") : value
    end

    # A short label the stores keep in a column of `max` characters (a task's initiator,
    # source_system, reason): nil, or UTF-8 text without NUL characters that fits.
    # @param value [String, Symbol, nil]
    # @param what [String]
    # @param max [Integer, nil] characters; nil: any length
    # @return [String, nil]
    # @raise [ValidationError]
    def label(value, what, max = nil)
      return nil if value.nil?

      label = name(value, what)
      raise ValidationError, "#{what}: contains a NUL character, which PostgreSQL cannot store" if label.include?("\0")
      if max && label.length > max
        raise ValidationError, "#{what}: #{label.length} characters, longer than the #{max} Tasker's tables allow"
      end

      label
    end

    # Template text as UTF-8, refused as the engine refuses it when registering (the same
    # message: `tasker_model::template::utf8_text`, pinned by spec/unit/input_errors_spec.rb),
    # for the Ruby-side readers of templates that do not register ({TemplateGraphAnalyzer}).
    # @param value [String]
    # @param source [String] names the template in errors
    # @return [String] UTF-8
    # @raise [ValidationError]
    def template_text(value, source)
      raise ValidationError, "#{source}: template text must be a String, got #{value.inspect}" unless value.is_a?(String)

      text = utf8(value)
      return text if text

      unless [Encoding::UTF_8, Encoding::BINARY, Encoding::US_ASCII].include?(value.encoding)
        begin
          value.encode(Encoding::UTF_8)
        rescue EncodingError => e
          raise ValidationError, "#{source}: template text in #{value.encoding} cannot be converted to UTF-8: #{e.message}"
        end
      end
      raise ValidationError, "#{source}: template text is not valid UTF-8: #{where_not_utf8(value.b)}"
    end

    # A file or directory path as the engine reads it: UTF-8 without NUL bytes.
    # @param value [String, Pathname]
    # @param what [String]
    # @return [String]
    # @raise [ValidationError]
    def path(value, what)
      value = value.to_path if value.respond_to?(:to_path)
      path = name(value, what)
      raise ValidationError, "#{what}: #{short(path)} contains a NUL byte" if path.include?("\0")

      path
    end

    # An Integer within `range`.
    # @param value [Object]
    # @param what [String]
    # @param range [Range<Integer>]
    # @return [Integer]
    # @raise [ValidationError]
    def integer(value, what, range)
      return value if value.is_a?(Integer) && range.cover?(value)

      raise ValidationError, "#{what}: expected an Integer from #{range.min} to #{range.max}, got #{short(value)}"
    end

    # A number of seconds: a finite, non-negative Integer or Float (or other Real).
    # @param value [Object]
    # @param what [String]
    # @return [Numeric]
    # @raise [ValidationError]
    def seconds(value, what)
      return value if value.is_a?(Numeric) && value.real? && value.finite? && value >= 0

      raise ValidationError, "#{what}: expected a non-negative number of seconds, got #{short(value)}"
    end

    # The {ValidationError} for the first of `inputs` that is not UTF-8 text, when the
    # native layer raised `error` (an EncodingError) for one of them; else `error` itself.
    #   rescue EncodingError => e
    #     raise Inputs.explain_encoding(e, "submit_task name" => name, "namespace" => namespace)
    # @param error [EncodingError]
    # @param inputs [Hash{String => Object}] what each input is called => its value
    # @return [Exception] to raise
    def explain_encoding(error, inputs)
      inputs.each do |what, value|
        next unless value.is_a?(String) && utf8(value).nil?

        return ValidationError.new("#{what}: #{not_utf8(value)}")
      end
      ValidationError.new("an argument is not UTF-8 text: #{error.message}")
    end

    # `value` as UTF-8 (itself when it already is; binary and US-ASCII bytes are read as
    # UTF-8, other encodings transcoded), or nil when it is not UTF-8 text.
    def utf8(value)
      case value.encoding
      when Encoding::UTF_8 then value.valid_encoding? ? value : nil
      when Encoding::BINARY, Encoding::US_ASCII
        copy = value.dup.force_encoding(Encoding::UTF_8)
        copy.valid_encoding? ? copy : nil
      else
        value.valid_encoding? ? value.encode(Encoding::UTF_8) : nil
      end
    rescue EncodingError
      nil
    end

    # Why a String is not UTF-8 text, with the offset of its first bad byte.
    def not_utf8(value)
      bytes = value.dup.force_encoding(Encoding::UTF_8)
      if [Encoding::UTF_8, Encoding::BINARY, Encoding::US_ASCII].include?(value.encoding)
        offset = 0
        bytes.each_char do |c|
          break unless c.valid_encoding?

          offset += c.bytesize
        end
        format("%<s>s is not valid UTF-8: byte 0x%<b>02X at byte offset %<o>d", s: short(value.b), b: value.getbyte(offset), o: offset)
      else
        "#{short(value.b)} in #{value.encoding} cannot be converted to UTF-8"
      end
    end

    # Where the first byte that is not UTF-8 sits in `bytes` (binary), worded as the engine
    # words it: "byte 0xE9 at byte offset 9 (line 1, byte column 10)".
    def where_not_utf8(bytes)
      offset = 0
      bytes.dup.force_encoding(Encoding::UTF_8).each_char do |c|
        break unless c.valid_encoding?

        offset += c.bytesize
      end
      before = bytes.byteslice(0, offset)
      line = before.count("\n") + 1
      column = offset - (before.rindex("\n") || -1)
      what = incomplete_at_end?(bytes.byteslice(offset..)) ? "an incomplete character at the end" : format("byte 0x%02X", bytes.getbyte(offset))
      "#{what} at byte offset #{offset} (line #{line}, byte column #{column})"
    end

    # Whether `rest` is the start of a UTF-8 character cut off by the end of the text (what
    # Rust's Utf8Error reports with no error_len).
    def incomplete_at_end?(rest)
      lead = rest.getbyte(0)
      length = if lead.between?(0xC2, 0xDF) then 2
               elsif lead.between?(0xE0, 0xEF) then 3
               elsif lead.between?(0xF0, 0xF4) then 4
               else return false
               end
      return false unless rest.bytesize < length

      second = { 0xE0 => 0xA0..0xBF, 0xED => 0x80..0x9F, 0xF0 => 0x90..0xBF, 0xF4 => 0x80..0x8F }.fetch(lead, 0x80..0xBF)
      rest.bytes.drop(1).each_with_index.all? { |b, i| (i.zero? ? second : 0x80..0xBF).cover?(b) }
    end

    # An inspect cut short, for messages.
    def short(value)
      shown = value.inspect
      shown.length > 80 ? "#{shown[0, 80]}..." : shown
    end
    private_class_method :utf8, :not_utf8, :short, :where_not_utf8, :incomplete_at_end?
  end
end
