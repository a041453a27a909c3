//! `TaskerCore::Native::ReadyStep`: one step handed to a worker.
//!
//! Fields that are JSON are converted to Ruby only when asked for, so a handler that does
//! not read its context pays nothing for it.
//!
//! Also home of what every taker of steps shares (the engine's `take_steps` and a task's
//! route): wrapping a batch for Ruby, and handing back a batch Ruby will not run.

use crate::helpers::convert::to_ruby;
use magnus::{method, prelude::*, Error, RArray, RHash, RModule, Ruby, Value};
use tasker_engine::{Engine as CoreEngine, ReadyStep as CoreReadyStep, StepFailure};

/// See the module documentation.
#[magnus::wrap(class = "TaskerCore::Native::ReadyStep", free_immediately, size)]
pub struct ReadyStep {
    inner: CoreReadyStep,
}

impl ReadyStep {
    /// Wraps a step handed out by the engine.
    fn new(inner: CoreReadyStep) -> ReadyStep {
        ReadyStep { inner }
    }

    fn step_id(&self) -> i64 {
        self.inner.step_id.0
    }

    fn task_id(&self) -> i64 {
        self.inner.task_id.0
    }

    fn name(&self) -> &str {
        self.inner.name()
    }

    fn handler_class(&self) -> &str {
        self.inner.handler_class()
    }

    fn attempt(&self) -> u32 {
        self.inner.attempt
    }

    fn retry_limit(&self) -> u32 {
        self.inner.retry_limit
    }

    /// Seconds this attempt may run (`nil`: no limit); the engine fails it that long after
    /// it was taken.
    fn timeout(&self) -> Option<f64> {
        self.inner.timeout.map(|t| t.as_secs_f64())
    }

    fn task_name(&self) -> &str {
        &self.inner.template.task_name
    }

    fn namespace(&self) -> &str {
        &self.inner.template.namespace
    }

    fn version(&self) -> &str {
        &self.inner.template.version
    }

    fn task_context(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
        to_ruby(ruby, &rb_self.inner.task_context)
    }

    fn handler_config(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
        to_ruby(ruby, rb_self.inner.handler_config())
    }

    /// `{parent step name => its results}`.
    fn parent_results(ruby: &Ruby, rb_self: &Self) -> Result<RHash, Error> {
        let h = ruby.hash_new();
        for (name, results) in &rb_self.inner.parent_results {
            h.aset(ruby.str_new(name), to_ruby(ruby, results)?)?;
        }
        Ok(h)
    }
}

/// Wraps ready steps as `Native::ReadyStep` objects.
pub(crate) fn wrap_steps(ruby: &Ruby, steps: Vec<CoreReadyStep>) -> Result<RArray, Error> {
    let out = ruby.ary_new_capa(steps.len());
    for s in steps {
        out.push(ReadyStep::new(s))?;
    }
    Ok(out)
}

/// Fails steps a worker took but will not run (Ruby raised while they were being taken),
/// as retryable at once, so they run again rather than stay stranded in progress.
pub(crate) fn hand_back(engine: &CoreEngine, steps: &[CoreReadyStep], why: &str) {
    for s in steps {
        let _ = engine.fail_attempt(
            s.step_id,
            s.attempt,
            StepFailure {
                error_class: "TaskerCore::WorkerInterrupted".into(),
                message: why.into(),
                retryable: true,
                retry_after: Some(0.0),
                details: None,
            },
        );
    }
}

/// Defines `TaskerCore::Native::ReadyStep`.
pub fn init(ruby: &Ruby, native: &RModule) -> Result<(), Error> {
    let class = native.define_class("ReadyStep", ruby.class_object())?;
    class.undef_default_alloc_func();
    class.define_method("step_id", method!(ReadyStep::step_id, 0))?;
    class.define_method("task_id", method!(ReadyStep::task_id, 0))?;
    class.define_method("name", method!(ReadyStep::name, 0))?;
    class.define_method("handler_class", method!(ReadyStep::handler_class, 0))?;
    class.define_method("attempt", method!(ReadyStep::attempt, 0))?;
    class.define_method("retry_limit", method!(ReadyStep::retry_limit, 0))?;
    class.define_method("timeout", method!(ReadyStep::timeout, 0))?;
    class.define_method("task_name", method!(ReadyStep::task_name, 0))?;
    class.define_method("namespace", method!(ReadyStep::namespace, 0))?;
    class.define_method("version", method!(ReadyStep::version, 0))?;
    class.define_method("task_context", method!(ReadyStep::task_context, 0))?;
    class.define_method("handler_config", method!(ReadyStep::handler_config, 0))?;
    class.define_method("parent_results", method!(ReadyStep::parent_results, 0))?;
    Ok(())
}
