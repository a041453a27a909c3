//! `TaskerCore::Native::TaskRoute`: the steps of one task, for a coordinator that drives it.

use super::ready_step::{hand_back, wrap_steps};
use crate::helpers::convert::to_seconds;
use crate::helpers::errors::{error, guard};
use crate::helpers::nogvl::{check_interrupts, interruptible};
use crossbeam_channel::Receiver;
use magnus::{method, prelude::*, Error, RArray, RModule, Ruby, Value};
use std::sync::Arc;
use tasker_engine::engine::WaitEnd;
use tasker_engine::{Engine as CoreEngine, ForkLocal, Routed};
use tasker_model::TaskId;

/// See the module documentation.
#[magnus::wrap(class = "TaskerCore::Native::TaskRoute", free_immediately, size)]
pub struct TaskRoute {
    /// Leaked, not dropped, when a forked child's GC frees this (see `ForkLocal`).
    engine: ForkLocal<Arc<CoreEngine>>,
    task_id: TaskId,
    inner: ForkLocal<Receiver<Routed>>,
}

impl TaskRoute {
    /// A route for `task_id`.
    pub(crate) fn new(
        engine: ForkLocal<Arc<CoreEngine>>,
        task_id: TaskId,
        inner: Receiver<Routed>,
    ) -> TaskRoute {
        TaskRoute {
            engine,
            task_id,
            inner: ForkLocal::new(inner),
        }
    }

    fn task_id(&self) -> i64 {
        self.task_id.0
    }

    /// `[steps, final_state_or_nil]`: up to `max` steps, waiting up to `timeout` for the
    /// first; the final state once the task ended.
    fn next(ruby: &Ruby, rb_self: &Self, max: usize, timeout: Value) -> Result<RArray, Error> {
        guard(|| {
            let timeout = to_seconds(timeout, "timeout")?;
            let outcome = interruptible(
                |interrupt| {
                    rb_self
                        .engine
                        .take_routed_waiting(&rb_self.inner, max, timeout, interrupt)
                },
                || {},
            );
            let closed = matches!(outcome.value, Some(Err(WaitEnd::Closed)));
            let items = match outcome.value {
                Some(Ok(items)) => items,
                _ => Vec::new(),
            };
            let mut steps = Vec::with_capacity(items.len());
            let mut finished = None;
            for item in items {
                match item {
                    Routed::Step(s) => steps.push(s),
                    Routed::Finished(_, state) => finished = Some(state.as_str()),
                }
            }
            if let Some(e) = outcome.error {
                hand_back(
                    &rb_self.engine,
                    &steps,
                    "the coordinator thread was interrupted while taking steps",
                );
                return Err(e);
            }
            check_interrupts()?;
            if closed {
                return Err(error(
                    "OrchestrationError",
                    format!(
                        "task {}: the engine stopped before the task finished",
                        rb_self.task_id
                    ),
                ));
            }
            let out = ruby.ary_new_capa(2);
            out.push(wrap_steps(ruby, steps)?)?;
            out.push(finished)?;
            Ok(out)
        })
    }
}

/// Defines `TaskerCore::Native::TaskRoute`.
pub fn init(ruby: &Ruby, native: &RModule) -> Result<(), Error> {
    let class = super::wrapped_class(ruby, native, "TaskRoute")?;
    class.define_method("task_id", method!(TaskRoute::task_id, 0))?;
    class.define_method("next", method!(TaskRoute::next, 2))?;
    Ok(())
}
