//! Conversions between Ruby values and the engine's JSON values and times.
//!
//! Ruby → JSON is done by hand rather than through serde so that an error names the exact
//! place of the bad value (`context.items[2].price: Float::NAN is not valid JSON`) and so
//! Time, Symbol and ActiveSupport's `as_json` objects convert the way a Rails user expects.

use crate::helpers::errors::{invalid, to_ruby as to_ruby_error};
use magnus::{
    prelude::*, r_hash::ForEach, time::Offset, time::Timespec, Error, Fixnum, Float, Integer,
    RArray, RHash, RString, Ruby, Symbol, Value,
};
use serde_json::{Map, Number, Value as Json};
use std::os::raw::c_int;
use tasker_model::Timestamp;

/// Nesting deeper than this is refused (and catches self-referencing structures).
const MAX_DEPTH: usize = 128;

/// Where in a structure a bad value sits, built only when a conversion fails so a good
/// value costs no path bookkeeping.
enum Segment {
    Key(String),
    Index(usize),
}

/// Why a conversion failed.
enum Failure {
    /// A value that has no JSON form; `rev_path` runs from the value up to the root.
    Invalid {
        rev_path: Vec<Segment>,
        message: String,
    },
    /// Ruby raised while we asked it something (e.g. `as_json`).
    Ruby(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Ruby(e)
    }
}

fn bad(message: impl Into<String>) -> Failure {
    Failure::Invalid {
        rev_path: Vec::new(),
        message: message.into(),
    }
}

fn at(segment: Segment) -> impl FnOnce(Failure) -> Failure {
    move |f| match f {
        Failure::Invalid {
            mut rev_path,
            message,
        } => {
            rev_path.push(segment);
            Failure::Invalid { rev_path, message }
        }
        other => other,
    }
}

/// Converts a Ruby value to JSON. `root` names the value in an error message
/// (`context`, `results of step 7`); it is called only when the conversion fails.
pub fn to_json(ruby: &Ruby, value: Value, root: impl FnOnce() -> String) -> Result<Json, Error> {
    // Most values are plain data: `plain` converts them without rb_protect or a Ruby call.
    // Anything else (or anything that fails) is converted again from the start by `walk`,
    // which alone decides what is refused and how, so both give the same result.
    if let Some(json) = plain(value, 0) {
        return Ok(json);
    }
    walk(ruby, value, 0).map_err(|f| match f {
        Failure::Ruby(e) => e,
        Failure::Invalid { rev_path, message } => {
            let mut path = root();
            for segment in rev_path.iter().rev() {
                match segment {
                    Segment::Key(k) => {
                        path.push('.');
                        path.push_str(k);
                    }
                    Segment::Index(i) => path.push_str(&format!("[{i}]")),
                }
            }
            invalid(&path, message)
        }
    })
}

/// `walk`'s result for a value made only of nil, true, false, Fixnums, finite Floats,
/// UTF-8 Strings without NUL, Symbols, Arrays and Hashes keyed by such Strings, Symbols or
/// Fixnums (subclasses included, as `walk` takes them by their built-in type); `None` for
/// anything else, or anything `walk` would refuse, without having changed or raised
/// anything. It runs no Ruby code, so Ruby can neither raise (a longjmp across these
/// frames) nor change a value while it is being read. Ruby allocates only when one Hash is
/// iterated inside itself more than 127 times (`rb_hash_foreach` then counts the levels in
/// an instance variable), so a GC may run there: no pointer into a Ruby object is held
/// across a call (Strings are copied at once, Arrays read by index).
fn plain(v: Value, depth: usize) -> Option<Json> {
    if depth > MAX_DEPTH {
        return None;
    }
    if let Some(j) = literal(v) {
        return Some(j);
    }
    if let Some(i) = Fixnum::from_value(v) {
        return Some(Json::Number(i.to_i64().into()));
    }
    if let Some(s) = RString::from_value(v) {
        return plain_str(s).map(Json::String);
    }
    if let Some(h) = RHash::from_value(v) {
        return plain_hash(h, depth);
    }
    if let Some(a) = RArray::from_value(v) {
        let array = magnus::rb_sys::AsRawValue::as_raw(a);
        let len = a.len();
        let mut out = Vec::with_capacity(len);
        // By index, not through a slice held across the elements' conversion: see `plain`'s
        // comment on the one allocation Ruby may make meanwhile.
        for i in 0..len {
            // SAFETY: the GVL is held; rb_ary_entry reads one element (nil past the end).
            let item = unsafe {
                <Value as magnus::rb_sys::FromRawValue>::from_raw(rb_sys::rb_ary_entry(
                    array,
                    i as std::os::raw::c_long,
                ))
            };
            out.push(plain(item, depth + 1)?);
        }
        return Some(Json::Array(out));
    }
    if let Some(f) = Float::from_value(v) {
        return Number::from_f64(f.to_f64()).map(Json::Number);
    }
    if let Some(s) = Symbol::from_value(v) {
        return plain_symbol(s).map(Json::String);
    }
    None
}

/// `RString::test_as_str`, answered from the String's flags when they hold its encoding
/// index and a known code range (then no call into Ruby: a third of the instructions a
/// small String's conversion took); otherwise asked of magnus, which scans it.
///
/// # Safety
/// No Ruby code may run, and `s` must not change, while the text is held.
pub unsafe fn utf8_text(s: &RString) -> Option<&str> {
    use rb_sys::{ruby_coderange_type as cr, ruby_encoding_consts as enc};
    let raw = magnus::rb_sys::AsRawValue::as_raw(*s);
    // SAFETY: `s` is a live String, so `raw` points at its RBasic header.
    let flags = unsafe { (*(raw as *const rb_sys::RBasic)).flags };
    let index = ((flags & enc::RUBY_ENCODING_MASK as rb_sys::VALUE)
        >> enc::RUBY_ENCODING_SHIFT as u32) as std::os::raw::c_int;
    let range = flags & cr::RUBY_ENC_CODERANGE_BROKEN as rb_sys::VALUE;
    // SAFETY: these return constants of Ruby's built-in encoding table.
    let (utf8, usascii, binary) = unsafe {
        (
            rb_sys::rb_utf8_encindex(),
            rb_sys::rb_usascii_encindex(),
            rb_sys::rb_ascii8bit_encindex(),
        )
    };
    // The cases test_as_str accepts: UTF-8 or US-ASCII, 7-bit or valid; binary, 7-bit.
    let accepted = if range == cr::RUBY_ENC_CODERANGE_7BIT as rb_sys::VALUE {
        index == utf8 || index == usascii || index == binary
    } else if range == cr::RUBY_ENC_CODERANGE_VALID as rb_sys::VALUE {
        index == utf8 || index == usascii
    } else {
        false
    };
    if accepted {
        // SAFETY: Ruby's code range says the bytes are UTF-8 (7-bit ones are ASCII).
        Some(unsafe { std::str::from_utf8_unchecked(s.as_slice()) })
    } else {
        // Unknown code range, another encoding, or not text: magnus decides (and caches the
        // code range it scans).
        unsafe { s.test_as_str() }
    }
}

/// nil, true or false as JSON.
fn literal(v: Value) -> Option<Json> {
    let raw = magnus::rb_sys::AsRawValue::as_raw(v);
    if raw == rb_sys::Qnil as rb_sys::VALUE {
        Some(Json::Null)
    } else if raw == rb_sys::Qtrue as rb_sys::VALUE {
        Some(Json::Bool(true))
    } else if raw == rb_sys::Qfalse as rb_sys::VALUE {
        Some(Json::Bool(false))
    } else {
        None
    }
}

/// A String's text when it is UTF-8 already and holds no NUL (what `walk` would take).
fn plain_str(s: RString) -> Option<String> {
    // SAFETY: the text is copied before anything else runs.
    let text = unsafe { utf8_text(&s) }?;
    (!text.contains('\0')).then(|| text.to_owned())
}

/// A Symbol's name as `symbol_name` gives it, when that needs no transcoding and holds no
/// NUL.
fn plain_symbol(s: Symbol) -> Option<String> {
    let string = symbol_string(s);
    // SAFETY: the text is copied before anything else runs.
    let name = unsafe { utf8_text(&string) }?;
    (!name.contains('\0')).then(|| name.to_owned())
}

/// The String a Symbol is named by, static or dynamic. Not `Symbol::name`: for a static
/// Symbol that reads `rb_id2name`'s C string, which ends at the first NUL, so `:"a\0b"`
/// became `"a"` without a word instead of being refused as `"a\0b"` is.
fn symbol_string(s: Symbol) -> RString {
    // SAFETY: the GVL is held; rb_sym2str returns the String the symbol table already holds
    // for it (no allocation) and never raises.
    unsafe {
        RString::from_value(<Value as magnus::rb_sys::FromRawValue>::from_raw(
            rb_sys::rb_sym2str(magnus::rb_sys::AsRawValue::as_raw(s)),
        ))
        .expect("rb_sym2str returns a String")
    }
}

/// A Symbol's name as text (transcoded to UTF-8 when it can be), for `walk` and `hash_key`.
fn symbol_name(s: Symbol) -> Option<String> {
    symbol_string(s).to_string().ok()
}

/// `hash_key`'s result when it succeeds without Ruby's help.
fn plain_key(k: Value) -> Option<String> {
    let key = if let Some(s) = RString::from_value(k) {
        // SAFETY: the text is copied before anything else runs.
        unsafe { utf8_text(&s) }?.to_owned()
    } else if let Some(s) = Symbol::from_value(k) {
        plain_symbol(s)?
    } else if let Some(i) = Fixnum::from_value(k) {
        i.to_i64().to_string()
    } else {
        return None;
    };
    (!key.contains('\0')).then_some(key)
}

/// The entries of a Hash, read by `rb_hash_foreach` with a callback that never raises nor
/// calls Ruby (so no rb_protect around it, unlike `RHash::foreach`).
fn plain_hash(h: RHash, depth: usize) -> Option<Json> {
    struct Entries {
        map: Map<String, Json>,
        depth: usize,
        complete: bool,
    }
    unsafe extern "C" fn entry(k: rb_sys::VALUE, v: rb_sys::VALUE, arg: rb_sys::VALUE) -> c_int {
        // SAFETY: `arg` is the `Entries` below, borrowed by nobody else during the call.
        let entries = unsafe { &mut *(arg as *mut Entries) };
        // A panic must not unwind into Ruby's C frames: stop, and let `walk` (under
        // `guard`) convert the value instead.
        let converted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: Ruby hands the callback live VALUEs of the hash.
            let (k, v) = unsafe {
                (
                    <Value as magnus::rb_sys::FromRawValue>::from_raw(k),
                    <Value as magnus::rb_sys::FromRawValue>::from_raw(v),
                )
            };
            Some((plain_key(k)?, plain(v, entries.depth + 1)?))
        }));
        match converted {
            Ok(Some((key, json))) => {
                entries.map.insert(key, json);
                rb_sys::st_retval::ST_CONTINUE as c_int
            }
            _ => {
                entries.complete = false;
                rb_sys::st_retval::ST_STOP as c_int
            }
        }
    }
    let mut entries = Entries {
        map: Map::new(),
        depth,
        complete: true,
    };
    // SAFETY: the GVL is held; `entry` neither raises nor runs Ruby code, and `entries`
    // outlives the call.
    unsafe {
        rb_sys::rb_hash_foreach(
            magnus::rb_sys::AsRawValue::as_raw(h),
            Some(entry),
            &mut entries as *mut Entries as rb_sys::VALUE,
        );
    }
    entries.complete.then_some(Json::Object(entries.map))
}

fn walk(ruby: &Ruby, v: Value, depth: usize) -> Result<Json, Failure> {
    if depth > MAX_DEPTH {
        return Err(bad(format!(
            "nested deeper than {MAX_DEPTH} levels (a structure that contains itself?)"
        )));
    }
    if let Some(j) = literal(v) {
        return Ok(j);
    }
    if let Some(s) = RString::from_value(v) {
        let s = s
            .to_string()
            .map_err(|_| bad("string is not valid UTF-8 (nor convertible to it)"))?;
        return if s.contains('\0') {
            Err(bad(NUL_MESSAGE))
        } else {
            Ok(Json::String(s))
        };
    }
    if let Some(i) = Integer::from_value(v) {
        if let Ok(n) = i.to_i64() {
            return Ok(Json::Number(n.into()));
        }
        if let Ok(n) = i.to_u64() {
            return Ok(Json::Number(n.into()));
        }
        return Err(bad("integer is outside the 64-bit range"));
    }
    if let Some(f) = Float::from_value(v) {
        return Number::from_f64(f.to_f64())
            .map(Json::Number)
            .ok_or_else(|| bad(format!("{} is not a valid JSON number", f.to_f64())));
    }
    if let Some(h) = RHash::from_value(v) {
        let mut map = Map::new();
        let mut failure = None;
        h.foreach(|k: Value, val: Value| {
            let key = match hash_key(k) {
                Ok(key) => key,
                Err(message) => {
                    failure = Some(bad(message));
                    return Ok(ForEach::Stop);
                }
            };
            match walk(ruby, val, depth + 1) {
                Ok(j) => {
                    map.insert(key, j);
                    Ok(ForEach::Continue)
                }
                Err(f) => {
                    failure = Some(at(Segment::Key(key))(f));
                    Ok(ForEach::Stop)
                }
            }
        })?;
        return match failure {
            Some(f) => Err(f),
            None => Ok(Json::Object(map)),
        };
    }
    if let Some(a) = RArray::from_value(v) {
        let mut out = Vec::with_capacity(a.len());
        for (i, item) in a.into_iter().enumerate() {
            out.push(walk(ruby, item, depth + 1).map_err(at(Segment::Index(i)))?);
        }
        return Ok(Json::Array(out));
    }
    if let Some(s) = Symbol::from_value(v) {
        return match symbol_name(s) {
            None => Err(bad("symbol is not valid UTF-8 (nor convertible to it)")),
            Some(name) if name.contains('\0') => Err(bad(NUL_MESSAGE)),
            Some(name) => Ok(Json::String(name)),
        };
    }
    if v.is_kind_of(ruby.class_time()) {
        // strftime, not #iso8601: the latter exists only after `require "time"`.
        let utc: Value = v.funcall("getutc", ())?;
        let s: String = utc.funcall("strftime", ("%Y-%m-%dT%H:%M:%S.%6NZ",))?;
        return Ok(Json::String(s));
    }
    // ActiveSupport gives most objects (BigDecimal, Date, models) an `as_json`.
    if v.respond_to("as_json", false)? {
        let j: Value = v.funcall("as_json", ())?;
        if !j.is_kind_of(v.class()) {
            return walk(ruby, j, depth + 1);
        }
    }
    Err(bad(format!(
        "cannot convert {} to JSON (use Hash, Array, String, Integer, Float, true, false, nil, Symbol or Time)",
        unsafe { v.classname() }
    )))
}

/// A hash key as a JSON object key, or why it cannot be one.
fn hash_key(k: Value) -> Result<String, String> {
    let key = if let Some(s) = RString::from_value(k) {
        s.to_string().ok()
    } else if let Some(s) = Symbol::from_value(k) {
        symbol_name(s)
    } else if let Some(i) = Integer::from_value(k) {
        i.to_i64().ok().map(|n| n.to_string())
    } else {
        return Err(format!(
            "hash key {} is not a String, Symbol or Integer",
            inspect(k)
        ));
    };
    match key {
        None => Err(format!(
            "hash key {} is not valid UTF-8 (nor convertible to it), or an Integer outside the 64-bit range",
            inspect(k)
        )),
        Some(key) if key.contains('\0') => Err(format!("hash key {}: {NUL_MESSAGE}", inspect(k))),
        Some(key) => Ok(key),
    }
}

/// Why a string holding U+0000 is refused: PostgreSQL cannot store it (text and jsonb
/// alike), and a value one store refuses must be refused by all, at the call, rather than
/// fail a later group commit.
const NUL_MESSAGE: &str =
    "string contains a NUL character (\\u0000), which PostgreSQL cannot store";

fn inspect(v: Value) -> String {
    v.inspect()
}

/// Converts JSON to Ruby: objects become Hashes with String keys. Kept apart from
/// `helpers::view` (which converts JSON too) because a step's context and results cross
/// here on every step, and this direct walk is the cheaper of the two.
pub fn to_ruby(ruby: &Ruby, j: &Json) -> Result<Value, Error> {
    build(ruby, j)
}

fn build(ruby: &Ruby, j: &Json) -> Result<Value, Error> {
    Ok(match j {
        Json::Null => ruby.qnil().as_value(),
        Json::Bool(true) => ruby.qtrue().as_value(),
        Json::Bool(false) => ruby.qfalse().as_value(),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                ruby.integer_from_i64(i).as_value()
            } else if let Some(u) = n.as_u64() {
                ruby.integer_from_u64(u).as_value()
            } else {
                ruby.float_from_f64(n.as_f64().unwrap_or(f64::NAN))
                    .as_value()
            }
        }
        Json::String(s) => ruby.str_new(s).as_value(),
        Json::Array(items) => {
            let a = ruby.ary_new_capa(items.len());
            for item in items {
                a.push(build(ruby, item)?)?;
            }
            a.as_value()
        }
        Json::Object(map) => {
            let h = ruby.hash_new();
            for (k, v) in map {
                h.aset(ruby.str_new(k), build(ruby, v)?)?;
            }
            h.as_value()
        }
    })
}

/// A UTC Ruby Time.
pub fn time_to_ruby(ruby: &Ruby, t: Timestamp) -> Result<Value, Error> {
    let micros = t.as_micros();
    let ts = Timespec {
        tv_sec: micros.div_euclid(1_000_000),
        tv_nsec: micros.rem_euclid(1_000_000) * 1000,
    };
    Ok(ruby.time_timespec_new(ts, Offset::utc())?.as_value())
}

/// The frozen, interned UTF-8 String for `s`: looked up without allocating once it exists,
/// so a name handed to Ruby for every event costs no garbage.
pub fn interned_utf8(s: &str) -> Value {
    // SAFETY: called with the GVL held (every caller is a Ruby method); the pointer and
    // length describe `s`, which Ruby copies when it first interns it.
    let value = unsafe {
        rb_sys::rb_enc_interned_str(
            s.as_ptr() as *const std::os::raw::c_char,
            s.len() as _,
            rb_sys::rb_utf8_encoding(),
        )
    };
    // SAFETY: rb_enc_interned_str returns a live String VALUE.
    unsafe { <Value as magnus::rb_sys::FromRawValue>::from_raw(value) }
}

/// Template text from Ruby as UTF-8, or a `ValidationError` naming `source`. Text in UTF-8,
/// US-ASCII or binary (`File.binread`) is taken byte for byte and must be UTF-8; the first
/// bad byte is named by offset, line and column (`tasker_model::template::utf8_text`).
/// Text in another encoding (ISO-8859-1, UTF-16, …) is transcoded first, as Ruby would.
/// magnus's own `String` conversion would raise `EncodingError` or `TypeError` instead,
/// which a caller rescuing `TaskerCore::Error` does not expect.
pub fn template_text(ruby: &Ruby, v: Value, source: &str) -> Result<String, Error> {
    let Some(s) = RString::from_value(v) else {
        return Err(invalid(
            source,
            format!("template text must be a String, got {}", inspect(v)),
        ));
    };
    let s = if s.is_utf8_compatible_encoding() || s.enc_get() == ruby.ascii8bit_encindex() {
        s
    } else {
        let encoding = s.enc_get();
        let encoding = magnus::encoding::RbEncoding::from(encoding);
        let name = encoding.name().to_owned();
        s.funcall::<_, _, RString>("encode", ("UTF-8",))
            .map_err(|e| {
                invalid(
                    source,
                    format!("template text in {name} cannot be converted to UTF-8: {e}"),
                )
            })?
    };
    // SAFETY: the GVL is held and nothing runs Ruby code while the slice is read and copied.
    let bytes = unsafe { s.as_slice() }.to_vec();
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(e) => Err(to_ruby_error(
            tasker_model::template::utf8_text(e.as_bytes(), source).unwrap_err(),
        )),
    }
}

/// A Ruby Integer as an id (`i64`), naming `what` when it is not one.
pub fn to_i64(v: Value, what: &str) -> Result<i64, Error> {
    let i = Integer::from_value(v)
        .ok_or_else(|| invalid(what, format!("expected an Integer, got {}", inspect(v))))?;
    i.to_i64()
        .map_err(|_| invalid(what, "integer is outside the 64-bit range"))
}

/// A duration in seconds (Integer or Float, ≥ 0), naming `what` when it is not one.
pub fn to_seconds(v: Value, what: &str) -> Result<std::time::Duration, Error> {
    let secs = if let Some(f) = Float::from_value(v) {
        f.to_f64()
    } else if let Some(i) = Integer::from_value(v) {
        i.to_i64().map_err(|_| invalid(what, "out of range"))? as f64
    } else {
        return Err(invalid(
            what,
            format!("expected seconds as a Float or Integer, got {}", inspect(v)),
        ));
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(invalid(
            what,
            format!("expected a non-negative number of seconds, got {secs}"),
        ));
    }
    Ok(std::time::Duration::from_secs_f64(secs.min(1.0e9)))
}

/// The name a template's errors give as its source: a String (in any encoding; bytes that
/// are not UTF-8 show as U+FFFD, since the name only labels messages) or a Symbol.
pub fn template_source(source: Value) -> Result<String, Error> {
    if let Some(s) = magnus::RString::from_value(source) {
        // SAFETY: the GVL is held and the slice is copied before any Ruby code runs.
        return Ok(String::from_utf8_lossy(unsafe { s.as_slice() }).into_owned());
    }
    if let Some(s) = magnus::Symbol::from_value(source) {
        return Ok(s.name()?.into_owned());
    }
    Err(invalid(
        "template source",
        format!(
            "expected a String naming the template, got {}",
            source.inspect()
        ),
    ))
}
