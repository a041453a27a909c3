//! `TaskerCore::Native::ReadyStep`: one step handed to a worker.
//!
//! Fields that are JSON are converted to Ruby only when asked for, so a handler that does
//! not read its context pays nothing for it.
//!
//! Also home of what every taker of steps shares (the engine's `take_steps` and a task's
//! route): wrapping a batch for Ruby, and handing back a batch Ruby will not run.

use crate::helpers::convert::to_ruby;
use magnus::{method, prelude::*, Error, IntoValue, RArray, RHash, RModule, Ruby, Value};
use tasker_engine::{AttemptId, Engine as CoreEngine, ReadyStep as CoreReadyStep, StepFailure};
use tasker_model::StepId;

/// See the module documentation.
#[magnus::wrap(class = "TaskerCore::Native::ReadyStep", free_immediately, size)]
pub struct ReadyStep {
    inner: CoreReadyStep,
    /// When this attempt times out, as a `CLOCK_MONOTONIC` reading in seconds (Ruby's
    /// `Process.clock_gettime(Process::CLOCK_MONOTONIC)`): its timeout after the batch was
    /// taken, as the engine counts it. `None`: no timeout.
    deadline: Option<f64>,
}

/// `CLOCK_MONOTONIC` in seconds, the clock Ruby's worker pool and its watchdog compare
/// deadlines with (Rust's `Instant` reads the same clock but does not expose it).
fn monotonic() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux
    // and macOS, so the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

impl ReadyStep {
    /// Wraps a step handed out by the engine at `taken` (a [`monotonic`] reading).
    fn new(inner: CoreReadyStep, taken: f64) -> ReadyStep {
        let deadline = inner.timeout.map(|t| taken + t.as_secs_f64());
        ReadyStep { inner, deadline }
    }

    /// What `complete_ready` and `fail_ready` report it by: its id, and its attempt's id when
    /// it has a timeout (only such an attempt can be late; the id, not the attempt number,
    /// which a manual reset starts over).
    pub(crate) fn report_key(&self) -> (StepId, Option<AttemptId>) {
        (
            self.inner.step_id,
            self.deadline.map(|_| self.inner.attempt_id),
        )
    }

    /// What `fail_ready` reports it by: its id and its attempt's id, timed or not. Its
    /// callers are the timed path and a worker's hand-back, which may come after a report of
    /// the same attempt (a fatal exception is reported, then reaches the pool's `ensure`): by
    /// the attempt's id, that second report can never take a retry handed out meanwhile.
    pub(crate) fn attempt_key(&self) -> (StepId, Option<AttemptId>) {
        (self.inner.step_id, Some(self.inner.attempt_id))
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

    /// `nil` when the step has no timeout; its deadline (a monotonic clock reading) while
    /// that is still ahead; `false` once it has passed (the engine fails the attempt, so a
    /// worker does not start it). One call, with the clock read in Rust, on the worker's
    /// path before every step (issue 17: timeouts in use cost at most 5 %).
    fn live_deadline(ruby: &Ruby, rb_self: &Self) -> Value {
        match rb_self.deadline {
            None => ruby.qnil().as_value(),
            Some(d) if monotonic() < d => d.into_value_with(ruby),
            Some(_) => ruby.qfalse().as_value(),
        }
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
    let taken = monotonic();
    for s in steps {
        out.push(ReadyStep::new(s, taken))?;
    }
    Ok(out)
}

/// Fails steps a worker took but will not run (Ruby raised while they were being taken),
/// as retryable at once, so they run again rather than stay stranded in progress.
pub(crate) fn hand_back(engine: &CoreEngine, steps: &[CoreReadyStep], why: &str) {
    for s in steps {
        let _ = engine.fail_attempt(
            s.step_id,
            s.attempt_id,
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
    let class = super::wrapped_class(ruby, native, "ReadyStep")?;
    class.define_method("step_id", method!(ReadyStep::step_id, 0))?;
    class.define_method("task_id", method!(ReadyStep::task_id, 0))?;
    class.define_method("name", method!(ReadyStep::name, 0))?;
    class.define_method("handler_class", method!(ReadyStep::handler_class, 0))?;
    class.define_method("attempt", method!(ReadyStep::attempt, 0))?;
    class.define_method("retry_limit", method!(ReadyStep::retry_limit, 0))?;
    class.define_method("timeout", method!(ReadyStep::timeout, 0))?;
    class.define_method("live_deadline", method!(ReadyStep::live_deadline, 0))?;
    class.define_method("task_name", method!(ReadyStep::task_name, 0))?;
    class.define_method("namespace", method!(ReadyStep::namespace, 0))?;
    class.define_method("version", method!(ReadyStep::version, 0))?;
    class.define_method("task_context", method!(ReadyStep::task_context, 0))?;
    class.define_method("handler_config", method!(ReadyStep::handler_config, 0))?;
    class.define_method("parent_results", method!(ReadyStep::parent_results, 0))?;
    Ok(())
}
