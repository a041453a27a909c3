//! The Ruby binding of tasker-core (`tasker_core_ext.so`).
//!
//! This crate owns the crossing between Ruby and the engine: Ruby classes over the engine
//! handle, value conversions, GVL release, and error translation. It must not hold
//! orchestration logic (that is the engine's) nor the public Ruby API (that is `gem/lib`,
//! which calls the `TaskerCore::Native` classes defined here).
//!
//! # Layout
//! - [`ruby_api`]: one Ruby class per file, each with an `init` that defines its methods;
//!   the engine's class is a folder (`ruby_api/engine/`), one file per area of methods.
//! - [`helpers`]: conversions (values, views, options Structs), GVL release, panic and
//!   error translation.
//!
//! # Rules
//! The extension is Ractor-safe: `rb_ext_ractor_safe(true)` runs before any method is
//! defined, the engine handle is a `frozen_shareable` wrapped object whose Rust type is
//! `Sync`, and no Ruby value is kept in a static. Rust never calls Ruby from its own threads.

mod helpers;
mod ruby_api;

use magnus::{Error, Ruby};

/// The extension's own Rust allocations use mimalloc. Memory allocated on a Ruby thread
/// (a converted context, a result) is freed on an engine thread; glibc's allocator
/// serialises that on an arena lock, which measured as most of the cost of a
/// `complete_step` call (see docs/benchmarks.md). Ruby's own heap is not affected.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[magnus::init]
fn init(ruby: &Ruby) -> Result<(), Error> {
    // SAFETY: declares that this extension's methods may run in any Ractor; it must precede
    // every method definition, which is why it is the first statement.
    unsafe { rb_sys::rb_ext_ractor_safe(true) };
    helpers::fork::install();
    ruby_api::init(ruby)
}
