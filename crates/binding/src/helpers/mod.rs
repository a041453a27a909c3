//! Helpers shared by the Ruby classes: nothing here defines a Ruby method.

pub mod convert;
pub mod errors;
pub mod nogvl;
