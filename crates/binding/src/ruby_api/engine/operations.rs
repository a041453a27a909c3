//! `TaskerCore::Native::Engine#operate`: the manual operations of `TaskerCore::Task` and
//! `TaskerCore::Step` (retry a step, mark it pending or completed, cancel a task…).
//!
//! Owns turning an operation's name and its `Native::OperateOptions` into the engine's
//! `Operation` and `Request`. Must not judge whether an operation is allowed: the engine
//! does, and its error crosses as it is.

use super::Engine;
use crate::helpers::convert::to_i64;
use crate::helpers::errors::{guard, invalid};
use crate::helpers::options::{Field, Kind};
use magnus::{Error, Ruby, Value};
use tasker_engine::operations::{Operation, Request};
use tasker_model::{StepId, TaskId};

/// `TaskerCore::Native::OperateOptions`: everything `operate` takes beyond the task and
/// the operation's name.
static OPERATE_OPTIONS: Kind<5> = Kind::new(
    "OperateOptions",
    "operate option",
    "step_id payload reason expect_sort_key timeout",
);

/// The engine's operation named `name`, on the step `step_id` with `payload` when it is a
/// step's.
fn operation(
    ruby: &Ruby,
    name: &str,
    step_id: &Field,
    payload: &Field,
) -> Result<Operation, Error> {
    let step = || -> Result<StepId, Error> {
        match step_id.opt_i64()? {
            Some(id) => Ok(StepId(id)),
            None => Err(step_id.invalid("expected an Integer, got nil")),
        }
    };
    Ok(match name {
        "reset_for_retry" => {
            Operation::ResetStepForRetry {
                step_id: step()?,
                retry_limit: match payload.opt_i64()? {
                    None => None,
                    Some(n) => Some(u32::try_from(n).map_err(|_| {
                        invalid("new_retry_limit", "must be between 0 and 4294967295")
                    })?),
                },
            }
        }
        "mark_pending" => Operation::MarkStepPending { step_id: step()? },
        "update_results" => Operation::UpdateStepResults {
            step_id: step()?,
            results: payload.json(ruby)?,
        },
        "mark_completed" => Operation::MarkStepCompleted {
            step_id: step()?,
            results: payload.json(ruby)?,
        },
        "cancel" => Operation::CancelTask,
        "retry" => Operation::RetryTask,
        "resolve_manually" => Operation::ResolveTaskManually,
        other => return Err(invalid("operation", format!("unknown operation {other:?}"))),
    })
}

impl Engine {
    /// `operate(task_id, operation, options)`: runs a manual operation; returns once it is
    /// committed.
    pub(super) fn operate(
        &self,
        task_id: Value,
        name: String,
        options: Value,
    ) -> Result<(), Error> {
        let ruby = Ruby::get_with(options);
        guard(|| {
            let task_id = TaskId(to_i64(task_id, "task_id")?);
            let [step_id, payload, reason, expect_sort_key, timeout] =
                OPERATE_OPTIONS.read(options)?;
            let op = operation(&ruby, &name, &step_id, &payload)?;
            let request = Request {
                reason: reason.opt_string()?,
                expect_sort_key: match expect_sort_key.opt_i64()? {
                    None => None,
                    Some(n) => Some(
                        i32::try_from(n).map_err(|_| expect_sort_key.invalid("out of range"))?,
                    ),
                },
            };
            let timeout = timeout.seconds()?;
            self.off_gvl("the operation", |engine| {
                engine.operate(task_id, op, request, timeout)
            })
        })
    }
}
