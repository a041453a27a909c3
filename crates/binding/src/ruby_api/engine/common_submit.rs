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
use magnus::{prelude::*, Error, RString, Ruby, Value};
use std::sync::atomic::Ordering;
use std::time::Instant;
use tasker_engine::SubmitRequest;

/// `value.to_s` as Rust text, as `Engine#submit_task` converted a name before it came here
/// (a Symbol, or anything else): only a non-String pays the Ruby call.
fn text(value: Value) -> Result<String, Error> {
    if RString::from_value(value).is_some() {
        return String::try_convert(value);
    }
    String::try_convert(value.funcall::<_, _, Value>("to_s", ())?)
}

/// Like [`text`], nil staying `None` (`namespace&.to_s`).
fn opt_text(value: Value) -> Result<Option<String>, Error> {
    if value.is_nil() {
        return Ok(None);
    }
    text(value).map(Some)
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
        initiator: None,
        source_system: None,
        reason: None,
        tags: None,
        start: true,
        run_at: None,
        priority: 0,
        name,
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
            let id = rb_self.live()?.submit(request).map(|id| id.0).map_err(err);
            rb_self.inner.metrics().submit.record(started.elapsed());
            id
        })
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
            let name = text(name)?;
            let namespace = opt_text(namespace)?;
            let version = opt_text(version)?;
            let engine = rb_self.live()?;
            let template = engine
                .template(&name, namespace.as_deref(), version.as_deref())
                .map_err(err)?;
            // Relaxed: a stale `false` only sends this call through Ruby's hooks. Checked
            // before the context is converted, so a declined call costs a lookup only.
            if !template.caller_hooks_absent.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let request = request(ruby, name, context, namespace, version)?;
            let id = engine.submit_to(template, request).map_err(err)?;
            rb_self.inner.metrics().submit.record(started.elapsed());
            Ok(Some(id.0))
        })
    }

    /// `submit_hooks_absent(name, namespace, version)`: Ruby learnt that the template these
    /// name (Strings, or nil for namespace and version) has no hook to run before a
    /// submission; later `submit_common` calls for it stop asking. A template registered
    /// again starts unlearnt.
    pub(super) fn submit_hooks_absent(
        &self,
        name: String,
        namespace: Value,
        version: Value,
    ) -> Result<(), Error> {
        guard(|| {
            let namespace = opt_string(namespace, "namespace")?;
            let version = opt_string(version, "version")?;
            let template = self
                .inner
                .template(&name, namespace.as_deref(), version.as_deref())
                .map_err(err)?;
            template.caller_hooks_absent.store(true, Ordering::Relaxed);
            Ok(())
        })
    }
}
