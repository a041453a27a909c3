//! The fast path of converting a Ruby value to JSON: plain data (nil, booleans, Fixnums,
//! finite Floats, UTF-8 Strings, Symbols, Arrays, Hashes) read without rb_protect and without
//! running any Ruby code, for contexts and step results on the submit and report paths.
//!
//! Owns: deciding that a value is plain and converting it exactly as `convert::walk` would,
//! and the primitives both read values with (nil/true/false, a Symbol's String, the nesting
//! limit), so `convert` builds on this file and never the other way round.
//! Must not: refuse anything, build an error message, or call into Ruby in a way that can
//! raise or run Ruby code; whatever is not plain it leaves (`None`) to `convert`, which
//! alone decides what is refused and how.

use magnus::{Fixnum, Float, RArray, RHash, RString, Symbol, Value};
use serde_json::{Map, Number, Value as Json};
use std::os::raw::c_int;

/// Hashes and Arrays nested more levels deep than this are refused, which also catches a
/// structure that contains itself. 100 is Ruby's `JSON.parse` default `max_nesting`, so what
/// the engine stores, ActiveRecord (Tasker's models) reads back (Rails 6.1 reads a deeper
/// `jsonb` value as nil, silently); serde_json itself reads at most 127 levels, and a value
/// accepted above that could be stored but never read again.
pub(crate) const MAX_NESTING: usize = 100;

/// nil, true or false as JSON.
pub(crate) fn literal(v: Value) -> Option<Json> {
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

/// The String a Symbol is named by, static or dynamic. Not `Symbol::name`: for a static
/// Symbol that reads `rb_id2name`'s C string, which ends at the first NUL, so `:"a\0b"`
/// became `"a"` without a word instead of being refused as `"a\0b"` is.
pub(crate) fn symbol_string(s: Symbol) -> RString {
    // SAFETY: the GVL is held; rb_sym2str returns the String the symbol table already holds
    // for it (no allocation) and never raises.
    unsafe {
        RString::from_value(<Value as magnus::rb_sys::FromRawValue>::from_raw(
            rb_sys::rb_sym2str(magnus::rb_sys::AsRawValue::as_raw(s)),
        ))
        .expect("rb_sym2str returns a String")
    }
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
pub(crate) fn plain(v: Value) -> Option<Json> {
    plain_at(v, 0)
}

fn plain_at(v: Value, depth: usize) -> Option<Json> {
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
        // Too deep: `walk` refuses it, naming the place.
        if depth >= MAX_NESTING {
            return None;
        }
        return plain_hash(h, depth);
    }
    if let Some(a) = RArray::from_value(v) {
        if depth >= MAX_NESTING {
            return None;
        }
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
            out.push(plain_at(item, depth + 1)?);
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
            Some((plain_key(k)?, plain_at(v, entries.depth + 1)?))
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
