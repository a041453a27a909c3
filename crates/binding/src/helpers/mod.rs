//! Helpers shared by the Ruby classes: nothing here defines a Ruby method.

pub(crate) mod convert;
pub(crate) mod errors;
pub(crate) mod fork;
pub(crate) mod memory;
pub(crate) mod nogvl;
pub(crate) mod options;
pub(crate) mod plain;
pub(crate) mod view;
