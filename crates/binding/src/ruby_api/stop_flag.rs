//! `TaskerCore::Native::StopFlag`: a flag shared with Ractors. A Ractor cannot read its
//! pool's instance variables, and waiting on a message would block its drain loop, so a
//! pool hands each Ractor this shareable object and raises it to stop them.

use magnus::{function, method, prelude::*, Error, RModule, Ruby};
use std::sync::atomic::{AtomicBool, Ordering};

/// See the module documentation.
#[magnus::wrap(
    class = "TaskerCore::Native::StopFlag",
    free_immediately,
    size,
    frozen_shareable
)]
#[derive(Default)]
pub struct StopFlag {
    raised: AtomicBool,
}

impl StopFlag {
    fn new() -> StopFlag {
        StopFlag::default()
    }

    fn raise(&self) {
        self.raised.store(true, Ordering::SeqCst);
    }

    fn is_raised(&self) -> bool {
        self.raised.load(Ordering::SeqCst)
    }
}

/// Defines `TaskerCore::Native::StopFlag`.
pub fn init(ruby: &Ruby, native: &RModule) -> Result<(), Error> {
    let class = native.define_class("StopFlag", ruby.class_object())?;
    class.define_singleton_method("new", function!(StopFlag::new, 0))?;
    class.define_method("raise!", method!(StopFlag::raise, 0))?;
    class.define_method("raised?", method!(StopFlag::is_raised, 0))?;
    Ok(())
}
