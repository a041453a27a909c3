//! The submit without options on `TaskerCore::Native::Engine`, the one `Engine#submit_task`
//! makes for most calls: `submit_common` (names as Ruby gives them, declines a template
//! whose Ruby submit hooks are not known to be absent), `submit_hooks_absent` (Ruby's
//! answer for a template) and `submit_in` (Strings only, never declines). Conversions
//! only: whether a task handler class has a hook is learnt in Ruby
//! (`TaskHandlerHooks`); the engine validates and creates the task. Must not run a hook.

use super::arguments::opt_string;
use super::Engine;
use crate::helpers::convert::to_json;
use crate::helpers::errors::{guard, to_ruby as err};
use crate::helpers::plain::utf8_text;
use magnus::{prelude::*, Error, RString, Ruby, Value};
use std::time::Instant;
use tasker_engine::SubmitRequest;

/// `value` as a Ruby String: itself, or `value.to_s` (a Symbol, anything else) as
/// `Engine#submit_task` converted a name before it came here.
fn ruby_text(value: Value) -> Result<RString, Error> {
    match RString::from_value(value) {
        Some(s) => Ok(s),
        None => RString::try_convert(value.funcall::<_, _, Value>("to_s", ())?),
    }
}

/// Like [`ruby_text`], nil staying `None` (`namespace&.to_s`).
fn opt_ruby_text(value: Value) -> Result<Option<RString>, Error> {
    if value.is_nil() {
        return Ok(None);
    }
    ruby_text(value).map(Some)
}

/// `Some(text)` of an optional name when it is UTF-8 already (`Some(None)` for nil), `None`
/// when it must be converted.
///
/// # Safety
/// No Ruby code may run while the text is held (it points into the String).
unsafe fn borrowed(s: &Option<RString>) -> Option<Option<&str>> {
    match s {
        None => Some(None),
        Some(s) => utf8_text(s).map(Some),
    }
}

/// An optional name as `String::try_convert` reads it (`EncodingError` when it cannot be
/// UTF-8).
fn owned(s: Option<RString>) -> Result<Option<String>, Error> {
    s.map(|s| String::try_convert(s.as_value())).transpose()
}

/// A started task of `name`'s template, nothing else set.
fn request(
    ruby: &Ruby,
    name: String,
    context: Value,
    namespace: Option<String>,
    version: Option<String>,
) -> Result<SubmitRequest, Error> {
    Ok(SubmitRequest {
        context: to_json(ruby, context, || "context".to_string())?,
        namespace,
        version,
        start: true,
        name,
        ..SubmitRequest::default()
    })
}

impl Engine {
    /// `submit_in(name, context, namespace, version)`: `submit` with no other option (the
    /// task starts, the call does not wait for the commit), for a call whose hooks ran: no
    /// options Struct to build and read (a tenth of a submit's instructions). `namespace`
    /// and `version` are Strings or nil.
    pub(super) fn submit_in(
        ruby: &Ruby,
        rb_self: &Self,
        name: String,
        context: Value,
        namespace: Value,
        version: Value,
    ) -> Result<i64, Error> {
        let started = Instant::now();
        guard(|| {
            let namespace = opt_string(namespace, "submit option namespace")?;
            let version = opt_string(version, "submit option version")?;
            let request = request(ruby, name, context, namespace, version)?;
            rb_self.submit_timed(request, started)
        })
    }

    /// Submits `request` (no wait for the commit) and records the call's time since
    /// `started`, when Ruby's call came in, in the submit metric, failed or not: for `submit`
    /// and `submit_in`, so both count alike.
    pub(super) fn submit_timed(
        &self,
        request: SubmitRequest,
        started: Instant,
    ) -> Result<i64, Error> {
        let id = self.live()?.submit(request).map(|id| id.0).map_err(err);
        self.inner.metrics().submit.record(started.elapsed());
        id
    }

    /// `submit_common(name, context, namespace, version)`: `submit_in` for
    /// `Engine#submit_task`'s common call, names converted with `to_s` as that method did.
    /// Returns nil, creating nothing, when the template has a `task_handler_class` that Ruby
    /// has not yet said is without a submit hook (`submit_hooks_absent`): the caller then
    /// runs the hook and calls `submit_in`. One registry lookup serves both, so a template
    /// without hooks costs Ruby no lookup of its own (a fifth of a submit's instructions).
    /// Errors are `submit_in`'s; an unknown template is named before a bad context.
    pub(super) fn submit_common(
        ruby: &Ruby,
        rb_self: &Self,
        name: Value,
        context: Value,
        namespace: Value,
        version: Value,
    ) -> Result<Option<i64>, Error> {
        let started = Instant::now();
        guard(|| {
            let name = ruby_text(name)?;
            let namespace = opt_ruby_text(namespace)?;
            let version = opt_ruby_text(version)?;
            let engine = rb_self.live()?;
            // SAFETY: the borrowed texts are used only by the registry lookup, which runs no
            // Ruby code; names that must be converted first (not UTF-8 yet) are copied.
            // Borrowed because a name only looked up need not be copied (two allocations).
            let found = unsafe {
                match (utf8_text(&name), borrowed(&namespace), borrowed(&version)) {
                    (Some(n), Some(ns), Some(v)) => engine.template(n, ns, v),
                    _ => {
                        let n = String::try_convert(name.as_value())?;
                        let (ns, v) = (owned(namespace)?, owned(version)?);
                        engine.template(&n, ns.as_deref(), v.as_deref())
                    }
                }
            };
            let template = found.map_err(err)?;
            // Checked before the context is converted, so a declined call costs a lookup only.
            if !engine.caller_hooks_absent(&template) {
                return Ok(None);
            }
            // `submit_to` reads no name from the request: the template is found.
            let request = request(ruby, String::new(), context, None, None)?;
            let id = engine.submit_to(template, request).map_err(err)?;
            rb_self.inner.metrics().submit.record(started.elapsed());
            Ok(Some(id.0))
        })
    }

    /// `submit_hooks_absent(name, namespace, version, epoch)`: Ruby learnt, having read
    /// `caller_hooks_epoch` as `epoch` before it looked, that the template these name
    /// (Strings, or nil for namespace and version) has a class without a hook of any kind;
    /// later `submit_common` calls for it stop asking, until a registration or
    /// `forget_submit_hooks` (an answer from before either never counts).
    pub(super) fn submit_hooks_absent(
        &self,
        name: String,
        namespace: Value,
        version: Value,
        epoch: u64,
    ) -> Result<(), Error> {
        guard(|| {
            let namespace = opt_string(namespace, "namespace")?;
            let version = opt_string(version, "version")?;
            let engine = self.live()?;
            let template = engine
                .template(&name, namespace.as_deref(), version.as_deref())
                .map_err(err)?;
            engine.set_caller_hooks_absent(&template, epoch);
            Ok(())
        })
    }

    /// `caller_hooks_epoch`: what `submit_hooks_absent` takes back (read before looking).
    pub(super) fn caller_hooks_epoch(&self) -> Result<u64, Error> {
        guard(|| Ok(self.live()?.caller_hooks_epoch()))
    }

    /// `forget_submit_hooks`: every answer `submit_hooks_absent` gave stops counting (Ruby
    /// emptied its cache of the task handler classes).
    pub(super) fn forget_submit_hooks(&self) -> Result<(), Error> {
        guard(|| {
            self.live()?.forget_caller_hooks();
            Ok(())
        })
    }
}
