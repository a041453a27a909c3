//! `submit_identified`: idempotent submission (Tasker's identity strategies). Must not
//! decide identities: `tasker_engine::identity` does.

use super::arguments::submit_request;
use super::Engine;
use crate::helpers::errors::{guard, to_ruby as err};
use crate::helpers::nogvl::blocking;
use magnus::{Error, Ruby, Value};
use std::time::Duration;
use tasker_engine::Identity;

/// How long an identified submission waits for its commit when the options give no
/// `durable_timeout` (it always waits: a repeat must find the first).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

impl Engine {
    /// `submit_identified(name, context, options, [strategy, key, window])`: submits unless
    /// a task with the same identity exists; returns `[task_id, created]`. `strategy` is
    /// "default", "caller_provided" or "always_unique"; `key` a String or nil; `window`
    /// seconds or nil. Waits (GVL released) until the task is committed.
    pub(super) fn submit_identified(
        ruby: &Ruby,
        rb_self: &Self,
        name: String,
        context: Value,
        options: Value,
        identity: (String, Option<String>, Option<f64>),
    ) -> Result<(i64, bool), Error> {
        let (strategy, key, window) = identity;
        guard(|| {
            let identity = Identity::parse(&strategy, key, window).map_err(err)?;
            let (request, timeout) = submit_request(ruby, name, context, options)?;
            let engine = rb_self.live()?.clone();
            let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT);
            let submitted = blocking(
                "the wait for an identified submission's commit (it may still commit)",
                move || engine.submit_identified(request, &identity, timeout),
            )?;
            Ok((submitted.task_id.0, submitted.created))
        })
    }
}
