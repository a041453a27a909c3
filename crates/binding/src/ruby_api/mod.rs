//! The `TaskerCore::Native` classes (and `TaskerCore::Event`), one per file.

mod diagnostics;
mod engine;
mod event;
mod event_subscription;
mod log_drain;
mod ready_step;
mod stop_flag;
mod task_graph;
mod task_route;

use magnus::{function, prelude::*, Error, RClass, RModule, Ruby};

/// Defines `TaskerCore::Native` and every class in it.
pub fn init(ruby: &Ruby) -> Result<(), Error> {
    let tasker_core = ruby.define_module("TaskerCore")?;
    let native = tasker_core.define_module("Native")?;
    engine::init(ruby, &native)?;
    ready_step::init(ruby, &native)?;
    task_route::init(ruby, &native)?;
    task_graph::init(ruby, &native)?;
    event::init(ruby, &tasker_core)?;
    event_subscription::init(ruby, &native)?;
    log_drain::init(ruby, &native)?;
    stop_flag::init(ruby, &native)?;
    diagnostics::init(ruby, &native)?;
    native.define_module_function("redact_url", function!(redact_url, 1))?;
    Ok(())
}

/// Defines the class `name` under `module` for objects only Rust makes: with Ruby's allocator
/// undefined, neither `new` nor `allocate` can make one with no Rust value inside.
fn wrapped_class(ruby: &Ruby, module: &RModule, name: &str) -> Result<RClass, Error> {
    let class = module.define_class(name, ruby.class_object())?;
    class.undef_default_alloc_func();
    Ok(class)
}

/// `Native.redact_url(url)`: the URL with its passwords hidden — the same redaction the
/// stores use in their errors, so Ruby's logs and Rust's messages never disagree.
fn redact_url(url: String) -> String {
    tasker_state::sql::redact_url(&url)
}
