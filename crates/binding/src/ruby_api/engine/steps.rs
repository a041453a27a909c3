//! The step methods of `TaskerCore::Native::Engine`: taking ready steps for a pool
//! (`take_steps`, `take_ractor_steps`), reporting them (`complete_step`, `fail_step`, and
//! per attempt `complete_ready`, `fail_ready` for a worker pool), `publish_event`, handing
//! back what Ruby was interrupted while taking, and where a handler's steps run.
//!
//! This is the hot path: every step crosses it twice. It must stay direct — no serde, no
//! options Struct, no allocation beyond the converted values — and it records the engine's
//! per-call histograms (`submit` is in `mod.rs`), which measure the crossing, not waits.

use super::arguments::execution as execution_named;
use super::Engine;
use crate::helpers::convert::{to_i64, to_json, to_seconds};
use crate::helpers::errors::{guard, invalid, to_ruby as err};
use crate::helpers::nogvl::{blocking, check_interrupts, interruptible};
use crate::ruby_api::ready_step::{hand_back, wrap_steps, ReadyStep};
use magnus::{prelude::*, Error, RArray, Ruby, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use tasker_engine::{AttemptId, StepFailure};
use tasker_model::{Execution, StepId};

impl Engine {
    /// `take_steps` (`RACTOR` false) and `take_ractor_steps` (true): up to `max` ready
    /// steps of the thread pool's handlers, or of `execution: ractor` handlers for a Ractor
    /// pool, waiting up to `timeout` seconds (GVL released) for the first.
    pub(super) fn take<const RACTOR: bool>(
        ruby: &Ruby,
        rb_self: &Self,
        max: usize,
        timeout: Value,
    ) -> Result<RArray, Error> {
        let executor = if RACTOR {
            Execution::Ractor
        } else {
            Execution::Thread
        };
        guard(|| {
            let timeout = to_seconds(timeout, "timeout")?;
            let engine = rb_self.live()?;
            let mut started = Instant::now();
            let mut steps = engine.take_steps_for(executor, max).map_err(err)?;
            if steps.is_empty() && !timeout.is_zero() {
                let outcome = interruptible(
                    |i| engine.take_steps_waiting_for(executor, max, timeout, i),
                    || {},
                );
                if let Some(Ok(got)) = outcome.value {
                    steps = got;
                }
                // The metric is the work of taking, not the wait for work.
                started = Instant::now();
                if let Some(e) = outcome.error {
                    // Ruby raised (Thread#kill, #raise, a signal) after steps were taken:
                    // hand them back as failed attempts so they run again.
                    hand_back(
                        engine,
                        &steps,
                        "the worker thread was interrupted while taking steps",
                    );
                    return Err(e);
                }
                check_interrupts()?;
            }
            let taken = !steps.is_empty();
            let wrapped = wrap_steps(ruby, steps);
            if taken {
                engine.metrics().drain.record(started.elapsed());
            }
            wrapped
        })
    }

    pub(super) fn complete_step(&self, step_id: Value, results: Value) -> Result<(), Error> {
        let id = StepId(to_i64(step_id, "step_id")?);
        self.complete_id(id, None, results).map(|_| ())
    }

    /// `complete_ready(ready, results)`: for a step with a timeout, the report of the attempt
    /// handed out as `ready` (its attempt id, which a manual reset does not start over like
    /// the attempt number); `complete_step` for one without; read here rather than by two
    /// calls from Ruby (a worker pool's path, issue 17's 5 % bar). False when the attempt
    /// timed out and the result was ignored.
    pub(super) fn complete_ready(&self, ready: &ReadyStep, results: Value) -> Result<bool, Error> {
        let (id, attempt) = ready.report_key();
        self.complete_id(id, attempt, results)
    }

    fn complete_id(
        &self,
        id: StepId,
        attempt: Option<AttemptId>,
        results: Value,
    ) -> Result<bool, Error> {
        let started = Instant::now();
        let ruby = Ruby::get_with(results);
        guard(|| {
            let results = to_json(&ruby, results, || format!("results of step {id}"))?;
            let engine = self.live()?;
            let done = match attempt {
                None => engine.complete_step(id, results).map(|()| true),
                Some(a) => engine.complete_attempt(id, a, results),
            };
            self.inner.metrics().complete.record(started.elapsed());
            done.map_err(err)
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn fail_step(
        ruby: &Ruby,
        rb_self: &Self,
        step_id: Value,
        error_class: String,
        message: String,
        retryable: bool,
        retry_after: Value,
        details: Value,
    ) -> Result<(), Error> {
        let failure = (error_class, message, retryable, retry_after, details);
        let key = || Ok((StepId(to_i64(step_id, "step_id")?), None));
        Self::fail(ruby, rb_self, key, failure).map(|_| ())
    }

    /// `fail_ready(ready, error_class, message, retryable, retry_after, details)`: the
    /// failure of the attempt handed out as `ready`, by its attempt id whether timed or not
    /// (`ReadyStep::attempt_key`); false when that attempt timed out, or a newer one is out,
    /// and the report was ignored.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fail_ready(
        ruby: &Ruby,
        rb_self: &Self,
        ready: &ReadyStep,
        error_class: String,
        message: String,
        retryable: bool,
        retry_after: Value,
        details: Value,
    ) -> Result<bool, Error> {
        let failure = (error_class, message, retryable, retry_after, details);
        Self::fail(ruby, rb_self, || Ok(ready.attempt_key()), failure)
    }

    /// Reports a failure of the step (and attempt, when given) `key` names; `key` is read
    /// inside the guard, so a bad step id is raised like any other error here.
    fn fail(
        ruby: &Ruby,
        rb_self: &Self,
        key: impl FnOnce() -> Result<(StepId, Option<AttemptId>), Error>,
        (error_class, message, retryable, retry_after, details): (
            String,
            String,
            bool,
            Value,
            Value,
        ),
    ) -> Result<bool, Error> {
        let started = Instant::now();
        guard(|| {
            let (id, attempt) = key()?;
            let retry_after = if retry_after.is_nil() {
                None
            } else {
                Some(to_seconds(retry_after, "retry_after")?.as_secs_f64())
            };
            let details = if details.is_nil() {
                None
            } else {
                match to_json(ruby, details, || format!("error details of step {id}"))? {
                    j @ serde_json::Value::Object(_) => Some(j),
                    _ => {
                        return Err(invalid(
                            &format!("error details of step {id}"),
                            "must be a Hash",
                        ))
                    }
                }
            };
            let failure = StepFailure {
                error_class,
                message,
                retryable,
                retry_after,
                details,
            };
            let engine = rb_self.live()?;
            let done = match attempt {
                None => engine.fail_step(id, failure).map(|()| true),
                Some(a) => engine.fail_attempt(id, a, failure),
            };
            done.map_err(err)
                .inspect(|_| rb_self.inner.metrics().fail.record(started.elapsed()))
        })
    }

    pub(super) fn publish_event(
        ruby: &Ruby,
        rb_self: &Self,
        step_id: Value,
        name: String,
        payload: Value,
    ) -> Result<(), Error> {
        guard(|| {
            let id = StepId(to_i64(step_id, "step_id")?);
            let payload = to_json(ruby, payload, || format!("payload of event {name}"))?;
            // The engine answers once it has checked the name against the template; that
            // is quick, but a busy engine may take longer, and no wait may hold the GVL
            // (every other Ruby thread, stop's deadline included, would stall with it).
            blocking("publishing the event", || {
                let wait = Duration::from_secs(10);
                rb_self.inner.publish_custom_event(id, &name, payload, wait)
            })
        })
    }

    /// `[[handler_class, where], …]` of the `execution: ractor` steps in the templates at
    /// `path` (or in `yaml` when given); registers nothing.
    pub(super) fn ractor_steps_in(
        &self,
        path: String,
        yaml: Value,
    ) -> Result<Vec<(String, String)>, Error> {
        guard(|| {
            let engine = self.live()?;
            if yaml.is_nil() {
                engine.ractor_steps_in(Path::new(&path)).map_err(err)
            } else {
                let text = String::try_convert(yaml)?;
                engine.ractor_steps_in_yaml(&text, &path).map_err(err)
            }
        })
    }

    /// Drops what the checks before a registration kept, when the registration did not take
    /// it. Raises nothing: it runs in an `ensure`, after the error that matters.
    pub(super) fn forget_checked_template(&self) {
        if let Ok(engine) = self.live() {
            engine.forget_checked();
        }
    }

    /// Records that `handler_class` declares its steps run on `execution` ("thread" or
    /// "ractor") unless a template step says otherwise.
    pub(super) fn declare_handler_execution(
        &self,
        handler_class: String,
        execution: String,
    ) -> Result<(), Error> {
        guard(|| {
            let execution =
                execution_named(&execution, "execution", &format!("{handler_class}: "))?;
            self.live()?
                .declare_handler_execution(&handler_class, execution);
            Ok(())
        })
    }

    /// Handler classes of the steps at `path` (or in `yaml`) that do not say where they run.
    pub(super) fn undeclared_handlers_in(
        &self,
        path: String,
        yaml: Value,
    ) -> Result<Vec<String>, Error> {
        guard(|| {
            let yaml = if yaml.is_nil() {
                None
            } else {
                Some(String::try_convert(yaml)?)
            };
            self.live()?
                .undeclared_handlers_in(Path::new(&path), yaml.as_deref())
                .map_err(err)
        })
    }
}
