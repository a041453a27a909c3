//! Reading `TaskerCore::Native::Engine`'s arguments: optional Hash entries and Strings, and
//! `submit`'s options Struct, each failure naming the option. Must not call the engine.

use crate::helpers::convert::to_json;
use crate::helpers::errors::invalid;
use crate::helpers::options::Kind;
use magnus::{prelude::*, Error, RHash, Ruby, Value};
use tasker_engine::SubmitRequest;
use tasker_model::Execution;

/// `TaskerCore::Native::SubmitOptions`: everything `submit` takes beyond name and context.
static SUBMIT_OPTIONS: Kind<10> = Kind::new(
    "SubmitOptions",
    "submit option",
    "namespace version initiator source_system reason tags start durable_timeout run_at priority",
);

/// Where steps run, by name ("thread" or "ractor"); otherwise an error naming `field`, its
/// message opening with `whose` (e.g. the handler class and ": ").
pub(super) fn execution(name: &str, field: &str, whose: &str) -> Result<Execution, Error> {
    Execution::ALL
        .into_iter()
        .find(|e| e.as_str() == name)
        .ok_or_else(|| {
            invalid(
                field,
                format!("{whose}must be thread or ractor, not {name:?}"),
            )
        })
}

pub(super) fn opt<T: magnus::TryConvert>(
    ruby: &Ruby,
    h: RHash,
    key: &str,
) -> Result<Option<T>, Error> {
    match h.get(ruby.to_symbol(key)) {
        Some(v) if !v.is_nil() => T::try_convert(v)
            .map(Some)
            .map_err(|e| invalid(&format!("option {key}"), e)),
        _ => Ok(None),
    }
}

/// The engine's `step_timeout` option: seconds, positive; nil or absent for no limit.
pub(super) fn step_timeout(
    ruby: &Ruby,
    options: RHash,
) -> Result<Option<std::time::Duration>, Error> {
    match options.get(ruby.to_symbol("step_timeout")) {
        Some(v) if !v.is_nil() => {
            let t = crate::helpers::convert::to_seconds(v, "option step_timeout")?;
            if t.is_zero() {
                return Err(invalid(
                    "option step_timeout",
                    "must be a positive number of seconds (or nil for no limit)",
                ));
            }
            Ok(Some(t))
        }
        _ => Ok(None),
    }
}

/// A String argument that may be nil, naming `what` when it is something else.
pub(super) fn opt_string(v: Value, what: &str) -> Result<Option<String>, Error> {
    if v.is_nil() {
        return Ok(None);
    }
    String::try_convert(v)
        .map(Some)
        .map_err(|_| invalid(what, "expected a String"))
}

/// A [`SubmitRequest`] from `submit`'s arguments (`options` a `Native::SubmitOptions`),
/// and its `durable_timeout`.
pub(super) fn submit_request(
    ruby: &Ruby,
    name: String,
    context: Value,
    options: Value,
) -> Result<(SubmitRequest, Option<std::time::Duration>), Error> {
    let [namespace, version, initiator, source_system, reason, tags, start, durable, run_at, priority] =
        SUBMIT_OPTIONS.read(options)?;
    let priority = match priority.opt_i64()? {
        None => 0,
        Some(p) => i32::try_from(p).map_err(|_| {
            priority.invalid(format!(
                "must be between {} and {}, got {p}",
                i32::MIN,
                i32::MAX
            ))
        })?,
    };
    let request = SubmitRequest {
        context: to_json(ruby, context, || "context".to_string())?,
        namespace: namespace.opt_string()?,
        version: version.opt_string()?,
        initiator: initiator.opt_string()?,
        source_system: source_system.opt_string()?,
        reason: reason.opt_string()?,
        tags: tags.opt_json(ruby)?,
        start: start.flag(),
        run_at: run_at.opt_epoch()?,
        priority,
        name,
    };
    Ok((request, durable.opt_seconds()?))
}
