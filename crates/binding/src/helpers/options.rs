//! Options structs: the optional arguments of a native method (`submit`, `operate`) cross
//! as one Ruby Struct (defined in `gem/lib/tasker_core/native_options.rb`), read here field
//! by field, so a bad value's error names its field ("submit option namespace: expected a
//! String") and a call site cannot swap two of ten positional arguments unnoticed.
//!
//! Must stay cheap: `submit` reads one per call. [`Kind::read`] hands out every field at
//! once, by position (no lookup by name, no Hash); a field's label is built only for an
//! error; the Struct's members are checked against [`Kind`]'s list once per process.

use crate::helpers::convert::{to_i64, to_json, to_seconds};
use crate::helpers::errors::{error, invalid};
use magnus::{prelude::*, Error, RStruct, Ruby, Value};
use std::sync::OnceLock;
use std::time::Duration;

/// One options Struct with `N` members.
pub(crate) struct Kind<const N: usize> {
    /// The Struct's name under `TaskerCore::Native`.
    class: &'static str,
    /// What a field's label starts with ("submit option").
    what: &'static str,
    /// The members, in order, separated by spaces: the order `read` hands them out in.
    members: &'static str,
    /// Set once the Ruby class's members were found to match `members`.
    checked: OnceLock<()>,
}

/// One field of an options Struct being read.
pub(crate) struct Field {
    value: Value,
    what: &'static str,
    /// Its kind's member list and its place in it: the name is looked up only for an error.
    members: &'static str,
    index: usize,
}

impl<const N: usize> Kind<N> {
    pub(crate) const fn new(
        class: &'static str,
        what: &'static str,
        members: &'static str,
    ) -> Kind<N> {
        Kind {
            class,
            what,
            members,
            checked: OnceLock::new(),
        }
    }

    /// Every field of `value`, an instance of this kind's Struct, in member order.
    pub(crate) fn read(&'static self, value: Value) -> Result<[Field; N], Error> {
        let fields = RStruct::from_value(value)
            .filter(|s| s.size() == N)
            .ok_or_else(|| {
                invalid(
                    &format!("{}s", self.what),
                    format!(
                        "expected a TaskerCore::Native::{}, got {}",
                        self.class,
                        value.inspect()
                    ),
                )
            })?;
        self.check_members(fields)?;
        // The size was checked above: every index is in range.
        let nil = Ruby::get_with(fields).qnil().as_value();
        Ok(std::array::from_fn(|index| Field {
            value: fields.get(index).unwrap_or(nil),
            what: self.what,
            members: self.members,
            index,
        }))
    }

    fn check_members(&self, fields: RStruct) -> Result<(), Error> {
        if self.checked.get().is_some() {
            return Ok(());
        }
        let members = fields.members()?;
        if !members
            .iter()
            .map(|m| m.as_ref())
            .eq(self.members.split(' '))
        {
            return Err(error(
                "Error",
                format!(
                    "TaskerCore::Native::{} has members {members:?}; the extension reads {:?}",
                    self.class, self.members
                ),
            ));
        }
        let _ = self.checked.set(());
        Ok(())
    }
}

impl Field {
    /// "submit option namespace": how an error names this field.
    fn label(&self) -> String {
        let member = self.members.split(' ').nth(self.index).unwrap_or("?");
        format!("{} {member}", self.what)
    }

    /// A ValidationError naming this field.
    pub(crate) fn invalid(&self, message: impl std::fmt::Display) -> Error {
        invalid(&self.label(), message)
    }

    /// Whether the field is truthy (Ruby's own sense: anything but nil and false).
    pub(crate) fn flag(&self) -> bool {
        self.value.to_bool()
    }

    /// A String; nil is `None`.
    pub(crate) fn opt_string(&self) -> Result<Option<String>, Error> {
        if self.value.is_nil() {
            return Ok(None);
        }
        String::try_convert(self.value)
            .map(Some)
            .map_err(|_| self.invalid("expected a String"))
    }

    /// A time as seconds since the Unix epoch (a Float, as `Time#to_f` gives); nil is
    /// `None`.
    pub(crate) fn opt_epoch(&self) -> Result<Option<tasker_model::Timestamp>, Error> {
        if self.value.is_nil() {
            return Ok(None);
        }
        match f64::try_convert(self.value) {
            Ok(s) if s.is_finite() && s.abs() < 1e12 => Ok(Some(tasker_model::Timestamp(
                (s * 1_000_000.0).round() as i64,
            ))),
            _ => Err(self.invalid("expected seconds since the epoch (Time#to_f)")),
        }
    }

    /// Seconds (Integer or Float, ≥ 0).
    pub(crate) fn seconds(&self) -> Result<Duration, Error> {
        to_seconds(self.value, &self.label())
    }

    /// Seconds; nil is `None`.
    pub(crate) fn opt_seconds(&self) -> Result<Option<Duration>, Error> {
        if self.value.is_nil() {
            return Ok(None);
        }
        self.seconds().map(Some)
    }

    /// An Integer; nil is `None`.
    pub(crate) fn opt_i64(&self) -> Result<Option<i64>, Error> {
        if self.value.is_nil() {
            return Ok(None);
        }
        to_i64(self.value, &self.label()).map(Some)
    }

    /// Any JSON-compatible value, nil included (as JSON null).
    pub(crate) fn json(&self, ruby: &Ruby) -> Result<serde_json::Value, Error> {
        to_json(ruby, self.value, || self.label())
    }

    /// A JSON-compatible value; nil is `None`.
    pub(crate) fn opt_json(&self, ruby: &Ruby) -> Result<Option<serde_json::Value>, Error> {
        if self.value.is_nil() {
            return Ok(None);
        }
        self.json(ruby).map(Some)
    }
}
