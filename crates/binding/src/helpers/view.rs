//! Views: what an inspection or insights method answers is a plain Rust struct deriving
//! `serde::Serialize`, and [`to_ruby`] is the one conversion that turns it into Ruby Hashes,
//! Arrays and scalars — in one pass, with no JSON in between.
//!
//! Owns the Ruby shape of serialized data: struct fields and map keys become String or
//! Symbol keys (the caller's [`Keys`]), `None` and unit become nil, a non-finite float nil
//! (as `serde_json` would make it), a [`RubyTime`] a UTC Time, JSON values stay as they
//! are. Must not be used on the hot path (taking, completing or failing steps, submit):
//! those build their few values directly.

use crate::helpers::convert::time_to_ruby;
use crate::helpers::errors::error;
use magnus::{prelude::*, Error, RArray, RHash, Ruby, Value};
use serde::ser::{self, Serialize, SerializeMap, Serializer};
use std::fmt;
use tasker_model::Timestamp;

/// How a view's field names and map keys cross.
#[derive(Clone, Copy)]
pub(crate) enum Keys {
    /// `"task_id"`: for rows read like stored records (`task["steps"]`).
    String,
    /// `:task_id`: for reports shaped by us (`stats[:latency]`).
    Symbol,
}

/// Converts `view` to Ruby.
pub(crate) fn to_ruby<T: Serialize + ?Sized>(
    ruby: &Ruby,
    view: &T,
    keys: Keys,
) -> Result<Value, Error> {
    view.serialize(ToRuby { ruby, keys }).map_err(|f| f.0)
}

/// A time that crosses as a Ruby Time (not as the microseconds it serializes to).
pub(crate) struct RubyTime(pub Timestamp);

/// The newtype name [`ToRuby`] recognises a [`RubyTime`] by.
const TIME: &str = "tasker_core::RubyTime";

impl Serialize for RubyTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_newtype_struct(TIME, &self.0.as_micros())
    }
}

/// `(key, value)` pairs, in their order, as a Hash: for maps the engine hands over as lists.
pub(crate) struct Pairs<K, V>(pub Vec<(K, V)>);

impl<K: Serialize, V: Serialize> Serialize for Pairs<K, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// A Ruby error carried through serde.
pub(crate) struct Failure(Error);

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Failure {}

impl ser::Error for Failure {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Failure(error("Error", format!("could not convert a view: {msg}")))
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure(e)
    }
}

#[derive(Clone, Copy)]
struct ToRuby<'r> {
    ruby: &'r Ruby,
    keys: Keys,
}

impl ToRuby<'_> {
    fn key(self, name: &str) -> Value {
        match self.keys {
            Keys::String => self.ruby.str_new(name).as_value(),
            Keys::Symbol => self.ruby.to_symbol(name).as_value(),
        }
    }

    fn unsupported(what: &str) -> Failure {
        ser::Error::custom(format!("{what} has no Ruby form here"))
    }
}

/// Builds an Array (sequences, tuples).
struct Seq<'r> {
    to: ToRuby<'r>,
    out: RArray,
}

/// Builds a Hash (maps, structs); `key` holds a map key until its value comes.
struct Map<'r> {
    to: ToRuby<'r>,
    out: RHash,
    key: Option<Value>,
}

/// `fn serialize_i8(self, v: i8)` and the like, each passing its value on widened.
macro_rules! widen {
    ($($method:ident($narrow:ty) => $wide:ident;)*) => {
        $(fn $method(self, v: $narrow) -> Result<Value, Failure> {
            self.$wide(v.into())
        })*
    };
}

/// A variant serializer that refuses: `$what` has no Ruby form here.
macro_rules! unsupported_variant {
    ($method:ident => $out:ident, $what:literal) => {
        fn $method(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::$out, Failure> {
            Err(Self::unsupported($what))
        }
    };
}

impl<'r> Serializer for ToRuby<'r> {
    type Ok = Value;
    type Error = Failure;
    type SerializeSeq = Seq<'r>;
    type SerializeTuple = Seq<'r>;
    type SerializeTupleStruct = Seq<'r>;
    type SerializeTupleVariant = ser::Impossible<Value, Failure>;
    type SerializeMap = Map<'r>;
    type SerializeStruct = Map<'r>;
    type SerializeStructVariant = ser::Impossible<Value, Failure>;

    // The narrower numbers cross as the widest of their kind.
    widen! {
        serialize_i8(i8) => serialize_i64;
        serialize_i16(i16) => serialize_i64;
        serialize_i32(i32) => serialize_i64;
        serialize_u8(u8) => serialize_u64;
        serialize_u16(u16) => serialize_u64;
        serialize_u32(u32) => serialize_u64;
        serialize_f32(f32) => serialize_f64;
    }

    fn serialize_bool(self, v: bool) -> Result<Value, Failure> {
        Ok(if v {
            self.ruby.qtrue().as_value()
        } else {
            self.ruby.qfalse().as_value()
        })
    }
    fn serialize_i64(self, v: i64) -> Result<Value, Failure> {
        Ok(self.ruby.integer_from_i64(v).as_value())
    }
    fn serialize_u64(self, v: u64) -> Result<Value, Failure> {
        Ok(self.ruby.integer_from_u64(v).as_value())
    }
    fn serialize_f64(self, v: f64) -> Result<Value, Failure> {
        if !v.is_finite() {
            return self.serialize_none();
        }
        Ok(self.ruby.float_from_f64(v).as_value())
    }
    fn serialize_char(self, v: char) -> Result<Value, Failure> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<Value, Failure> {
        Ok(self.ruby.str_new(v).as_value())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<Value, Failure> {
        Err(Self::unsupported("a byte string"))
    }
    fn serialize_none(self) -> Result<Value, Failure> {
        Ok(self.ruby.qnil().as_value())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<Value, Failure> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, Failure> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Value, Failure> {
        self.serialize_none()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Value, Failure> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        v: &T,
    ) -> Result<Value, Failure> {
        let inner = v.serialize(self)?;
        if name != TIME {
            return Ok(inner);
        }
        let micros = i64::try_convert(inner)?;
        Ok(time_to_ruby(self.ruby, Timestamp(micros))?)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<Value, Failure> {
        let out = self.ruby.hash_new();
        out.aset(self.key(variant), v.serialize(self)?)?;
        Ok(out.as_value())
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Seq<'r>, Failure> {
        Ok(Seq {
            to: self,
            out: self.ruby.ary_new_capa(len.unwrap_or(0)),
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq<'r>, Failure> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Seq<'r>, Failure> {
        self.serialize_seq(Some(len))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Map<'r>, Failure> {
        Ok(Map {
            to: self,
            out: self.ruby.hash_new(),
            key: None,
        })
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<Map<'r>, Failure> {
        self.serialize_map(Some(len))
    }
    // Enum variants with fields: no view has one.
    unsupported_variant!(serialize_tuple_variant => SerializeTupleVariant, "a tuple variant");
    unsupported_variant!(serialize_struct_variant => SerializeStructVariant, "a struct variant");
}

macro_rules! seq_impl {
    ($trait:ident, $method:ident) => {
        impl ser::$trait for Seq<'_> {
            type Ok = Value;
            type Error = Failure;
            fn $method<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Failure> {
                Ok(self.out.push(v.serialize(self.to)?)?)
            }
            fn end(self) -> Result<Value, Failure> {
                Ok(self.out.as_value())
            }
        }
    };
}
seq_impl!(SerializeSeq, serialize_element);
seq_impl!(SerializeTuple, serialize_element);
seq_impl!(SerializeTupleStruct, serialize_field);

impl SerializeMap for Map<'_> {
    type Ok = Value;
    type Error = Failure;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Failure> {
        // A key becomes text first, as `serde_json` makes it (an Integer key 7 is "7").
        let text = k.serialize(ToRuby {
            keys: Keys::String,
            ..self.to
        })?;
        let text = if text.is_kind_of(self.to.ruby.class_string()) {
            text
        } else {
            text.funcall("to_s", ())?
        };
        self.key = Some(match self.to.keys {
            Keys::String => text,
            Keys::Symbol => text.funcall("to_sym", ())?,
        });
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Failure> {
        let key = self
            .key
            .take()
            .ok_or_else(|| <Failure as ser::Error>::custom("a map value came without its key"))?;
        Ok(self.out.aset(key, v.serialize(self.to)?)?)
    }
    fn end(self) -> Result<Value, Failure> {
        Ok(self.out.as_value())
    }
}

impl ser::SerializeStruct for Map<'_> {
    type Ok = Value;
    type Error = Failure;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        v: &T,
    ) -> Result<(), Failure> {
        Ok(self.out.aset(self.to.key(name), v.serialize(self.to)?)?)
    }
    fn end(self) -> Result<Value, Failure> {
        Ok(self.out.as_value())
    }
}
