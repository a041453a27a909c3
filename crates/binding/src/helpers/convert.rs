//! Conversions between Ruby values and the engine's JSON values and times.
//!
//! Ruby → JSON is done by hand rather than through serde so that an error names the exact
//! place of the bad value (`context.items[2].price: Float::NAN is not valid JSON`) and so
//! Time, Symbol and ActiveSupport's `as_json` objects convert the way a Rails user expects.

use crate::helpers::errors::{invalid, to_ruby as to_ruby_error};
use crate::helpers::plain::{literal, plain, symbol_string, MAX_NESTING};
use magnus::{
    prelude::*, r_hash::ForEach, time::Offset, time::Timespec, Error, Float, Integer, RArray,
    RHash, RString, Ruby, Symbol, Value,
};
use serde_json::{Map, Number, Value as Json};
use tasker_model::Timestamp;

/// The refusal of a Hash or Array nested deeper than `MAX_NESTING`.
fn too_deep() -> Failure {
    bad(format!(
        "nested deeper than {MAX_NESTING} levels (a structure that contains itself?)"
    ))
}

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
    if let Some(json) = plain(value) {
        return Ok(json);
    }
    walk(ruby, value, 0, 0).map_err(|f| match f {
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

/// A Symbol's name as text (transcoded to UTF-8 when it can be), for `walk` and `hash_key`.
fn symbol_name(s: Symbol) -> Option<String> {
    symbol_string(s).to_string().ok()
}

/// `as_json` results taken in a row for one value before it is refused (an object whose
/// `as_json` returns another such object, and so on).
const MAX_AS_JSON_CHAIN: usize = 16;

/// `v` as JSON; `depth` counts the Hashes and Arrays `v` sits in, `chain` the `as_json` calls
/// that led to `v` in its place (they add no level to the JSON).
fn walk(ruby: &Ruby, v: Value, depth: usize, chain: usize) -> Result<Json, Failure> {
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
        if depth >= MAX_NESTING {
            return Err(too_deep());
        }
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
            match walk(ruby, val, depth + 1, 0) {
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
        if depth >= MAX_NESTING {
            return Err(too_deep());
        }
        let mut out = Vec::with_capacity(a.len());
        for (i, item) in a.into_iter().enumerate() {
            out.push(walk(ruby, item, depth + 1, 0).map_err(at(Segment::Index(i)))?);
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
            if chain >= MAX_AS_JSON_CHAIN {
                return Err(bad(format!(
                    "as_json gave objects that need as_json again {MAX_AS_JSON_CHAIN} times in a row"
                )));
            }
            return walk(ruby, j, depth, chain + 1);
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
