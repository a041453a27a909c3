//! `TaskerCore::Native::Engine`: the shareable handle over a running engine.
//!
//! This file owns the wrapped class, its lifecycle (start, templates, recover, flush, stop,
//! close), submitting, starting and awaiting tasks, and `init`; the other methods are
//! defined by one file per area: [`steps`] (taking and reporting steps), [`common_submit`]
//! (the submit without options), [`identity`] (idempotent submission), [`operations`]
//! (manual operations), [`inspection`] (reading tasks, graphs and templates) and
//! [`insights`] (health, stats, metrics, stored insights). Must not decide anything the
//! engine decides: each method converts its arguments, calls the engine, converts back.
//!
//! Calls that change something return at once; waits release the GVL and can be
//! interrupted. Positional arguments and options Structs only: `TaskerCore::Engine` (Ruby)
//! owns keywords and defaults.

mod arguments;
mod common_submit;
mod identity;
mod insights;
mod inspection;
mod listing;
mod operations;
mod pausing;
mod retention;
mod schedules;
mod sharing;
mod steps;

use super::event_subscription::EventSubscription;
use super::task_route::TaskRoute;
use crate::helpers::convert::{template_source, template_text, to_i64, to_json, to_seconds};
use crate::helpers::errors::{error, guard, invalid, to_ruby as err};
use crate::helpers::memory::{release_freed_memory, PurgeAtOnce};
use crate::helpers::nogvl::{blocking, check_interrupts, interruptible};
use crate::helpers::view::{to_ruby, Keys};
use arguments::{opt, step_timeout, submit_request};
use magnus::{function, method, prelude::*, Error, RHash, RModule, Ruby, Value};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tasker_engine::engine::WaitEnd;
use tasker_engine::{Engine as CoreEngine, EngineOptions, ForkLocal};
use tasker_event_bus::Overflow;
use tasker_model::{EngineConfig, TaskId, TaskerError, TaskerResult};

/// See the module documentation.
#[magnus::wrap(
    class = "TaskerCore::Native::Engine",
    free_immediately,
    size,
    frozen_shareable
)]
pub struct Engine {
    /// Leaked, not dropped, when a forked child's GC frees this object: the child has a copy
    /// of the engine, not its threads (see `ForkLocal`).
    pub(crate) inner: ForkLocal<Arc<CoreEngine>>,
}

/// What `recover` answers.
#[derive(Serialize)]
struct Recovered {
    resumed: usize,
    task_ids: Vec<i64>,
    owned_elsewhere: usize,
    skipped: Vec<(i64, String)>,
}

impl Engine {
    /// The engine, unless this process is a fork of the one that started it (the engine's
    /// threads are not here; see `tasker_engine::fork`).
    fn live(&self) -> Result<&Arc<CoreEngine>, Error> {
        if self.inner.forked() {
            return Err(error(
                "OrchestrationError",
                format!(
                    "this engine was started in process {} and this process ({}) is a fork of it: its threads are not here. Call TaskerCore.after_fork (or start a new Engine) in the child",
                    self.inner.started_in_process(),
                    std::process::id()
                ),
            ));
        }
        Ok(&self.inner)
    }

    /// Runs `work` on the live engine with the GVL released ([`blocking`]: a store read, a
    /// commit wait, a stop); `what` names it in the error of a call Ruby never let run.
    fn off_gvl<R>(
        &self,
        what: &str,
        work: impl FnOnce(&CoreEngine) -> TaskerResult<R>,
    ) -> Result<R, Error> {
        let engine = self.live()?;
        blocking(what, || work(engine))
    }

    /// `Native::Engine.new(options)`: starts an engine.
    fn new(ruby: &Ruby, options: RHash) -> Result<Self, Error> {
        guard(|| {
            let mut config = EngineConfig::default();
            if let Some(s) = opt::<f64>(ruby, options, "backoff_scale")? {
                if !(s.is_finite() && s >= 0.0) {
                    return Err(invalid(
                        "option backoff_scale",
                        "must be a non-negative number",
                    ));
                }
                config.backoff_scale = s;
            }
            config.step_timeout = step_timeout(ruby, options)?;
            if let Some(b) = opt::<usize>(ruby, options, "event_buffer")? {
                config.event_buffer = b.max(1);
            }
            let mut engine_options = EngineOptions {
                config,
                environment: opt::<String>(ruby, options, "environment")?,
                ..EngineOptions::default()
            };
            if let Some(v) = options.get(ruby.to_symbol("commit_interval")) {
                if !v.is_nil() {
                    engine_options.commit_interval = to_seconds(v, "option commit_interval")?;
                }
            }
            if let Some(n) = opt::<usize>(ruby, options, "max_batch")? {
                engine_options.max_batch = n.max(1);
            }
            if let Some(v) = options.get(ruby.to_symbol("concurrency")) {
                if !v.is_nil() {
                    let config = to_json(ruby, v, || "option concurrency".to_string())?;
                    engine_options.limits = tasker_engine::gate::Limits::from_json(&config)
                        .map_err(|e| error("ConfigurationError", e.to_string()))?;
                }
            }
            let sharing = sharing::sharing(ruby, options)?;
            if let Some(url) = opt::<String>(ruby, options, "database_url")? {
                // Opening a SQL store connects and migrates: no GVL needed for that
                // (`memory:` is the in-process store, also chosen by `open_store`).
                engine_options.store = Some(blocking("opening the store", move || {
                    tasker_state::open_store_with(&url, sharing)
                })?);
            }
            let inner = CoreEngine::start(engine_options).map_err(err)?;
            Ok(Engine {
                inner: ForkLocal::new(Arc::new(inner)),
            })
        })
    }

    fn register_templates(&self, path: String) -> Result<Vec<String>, Error> {
        guard(|| {
            self.live()?
                .register_templates(Path::new(&path))
                .map_err(err)
        })
    }

    /// `register_template_yaml(yaml, source)`: registers one template from text. Both
    /// arguments are read here rather than by magnus, so text that is not UTF-8 (or not a
    /// String) is a `ValidationError` naming the source and the first bad byte.
    fn register_template_yaml(
        ruby: &Ruby,
        rb_self: &Self,
        yaml: Value,
        source: Value,
    ) -> Result<Vec<String>, Error> {
        guard(|| {
            let source = template_source(source)?;
            let yaml = template_text(ruby, yaml, &source)?;
            rb_self
                .live()?
                .register_template_yaml(&yaml, &source)
                .map_err(err)
        })
    }

    /// `template_input(yaml, source)`: `[text, source]` as UTF-8 Strings, read as
    /// `register_template_yaml` reads them, so the Ruby side checks a template's text once,
    /// before the calls that look into it ahead of registering it.
    fn template_input(
        ruby: &Ruby,
        _rb_self: &Self,
        yaml: Value,
        source: Value,
    ) -> Result<(String, String), Error> {
        guard(|| {
            let source = template_source(source)?;
            Ok((template_text(ruby, yaml, &source)?, source))
        })
    }

    /// `submit(name, context, options)`: validates and submits a task; returns its id.
    /// `options` is a `Native::SubmitOptions`; with a `durable_timeout` the call waits (GVL
    /// released) until the task is committed.
    fn submit(
        ruby: &Ruby,
        rb_self: &Self,
        name: String,
        context: Value,
        options: Value,
    ) -> Result<i64, Error> {
        let started = Instant::now();
        guard(|| {
            let (request, durable_timeout) = submit_request(ruby, name, context, options)?;
            let Some(timeout) = durable_timeout else {
                return rb_self.submit_timed(request, started);
            };
            // The submission itself is quick; only the wait for its commit lets go of the GVL.
            let submission = rb_self.live()?.submit_durable(request).map_err(err)?;
            let task_id = submission.task_id;
            blocking(
                format_args!("the wait for the commit of task {task_id} (it may still commit)"),
                move || submission.wait(timeout),
            )
            .map(|id| id.0)
        })
    }

    /// Starts a pending task; with `routed` returns the task's own route.
    fn start_task(
        &self,
        task_id: Value,
        routed: bool,
        max_parallel: Value,
        timeout: Value,
    ) -> Result<Option<TaskRoute>, Error> {
        guard(|| {
            let id = TaskId(to_i64(task_id, "task_id")?);
            let timeout = to_seconds(timeout, "timeout")?;
            let max_parallel = if max_parallel.is_nil() {
                None
            } else {
                Some(u32::try_convert(max_parallel)?)
            };
            let route = self
                .live()?
                .start_task(id, routed, max_parallel, timeout)
                .map_err(err)?;
            Ok(route.map(|r| TaskRoute::new(self.inner.clone(), id, r)))
        })
    }

    /// Waits (GVL released) until the task ends; its final state, or nil on timeout.
    fn wait_for_task(&self, task_id: Value, timeout: Value) -> Result<Option<String>, Error> {
        self.wait(task_id, timeout, false)
    }

    /// Like `wait_for_task`, but a timeout raises `TimeoutError` naming the task and its state.
    fn await_task(&self, task_id: Value, timeout: Value) -> Result<Option<String>, Error> {
        self.wait(task_id, timeout, true)
    }

    fn wait(
        &self,
        task_id: Value,
        timeout: Value,
        raise_on_timeout: bool,
    ) -> Result<Option<String>, Error> {
        guard(|| {
            let id = TaskId(to_i64(task_id, "task_id")?);
            let timeout = to_seconds(timeout, "timeout")?;
            let inner = self.live()?.clone();
            let outcome = interruptible(
                |i| inner.wait_for_task(id, timeout, i),
                || self.inner.wake_waiters(),
            );
            if let Some(e) = outcome.error {
                return Err(e);
            }
            match outcome.value {
                Some(Ok(Ok(state))) => Ok(Some(state.as_str().to_string())),
                Some(Ok(Err(WaitEnd::TimedOut))) if raise_on_timeout => {
                    let state = self
                        .inner
                        .task(id)
                        .ok()
                        .flatten()
                        .map(|v| v.state.as_str())
                        .unwrap_or("unknown");
                    Err(err(TaskerError::Timeout(format!(
                        "task {id} did not finish within {timeout:?}; it is {state}"
                    ))))
                }
                Some(Ok(Err(WaitEnd::TimedOut))) => Ok(None),
                Some(Ok(Err(WaitEnd::Interrupted | WaitEnd::Closed))) | None => {
                    check_interrupts()?;
                    Ok(None)
                }
                Some(Err(e)) => Err(err(e)),
            }
        })
    }

    /// Takes over unfinished tasks from the store; `{resumed:, task_ids:, owned_elsewhere:,
    /// skipped: [[task_id, why], …]}`.
    fn recover(ruby: &Ruby, rb_self: &Self, timeout: Value) -> Result<Value, Error> {
        guard(|| {
            let timeout = to_seconds(timeout, "timeout")?;
            let report = rb_self.off_gvl("recover", |engine| engine.recover(timeout))?;
            let recovered = Recovered {
                resumed: report.resumed,
                task_ids: report.resumed_ids.iter().map(|id| id.0).collect(),
                owned_elsewhere: report.owned_elsewhere,
                skipped: report
                    .skipped
                    .into_iter()
                    .map(|(id, why)| (id.0, why))
                    .collect(),
            };
            to_ruby(ruby, &recovered, Keys::Symbol)
        })
    }

    fn flush(&self, timeout: Value) -> Result<(), Error> {
        guard(|| {
            let timeout = to_seconds(timeout, "timeout")?;
            self.off_gvl("flush", |engine| engine.flush(timeout))
        })
    }

    /// `commit_pending(timeout)`: returns once every change made so far is committed and
    /// readable, without waiting for it to be durable (`flush` does).
    fn commit_pending(&self, timeout: Value) -> Result<(), Error> {
        guard(|| {
            let timeout = to_seconds(timeout, "timeout")?;
            self.off_gvl("commit_pending", |engine| engine.commit_pending(timeout))
        })
    }

    /// Stops the engine; returns how many steps were taken back.
    fn stop(&self, timeout: Value) -> Result<usize, Error> {
        guard(|| {
            let timeout = to_seconds(timeout, "timeout")?;
            blocking("stop", || self.inner.stop(timeout))
        })
    }

    /// Stops the engine and closes its store (connections, claims); returns steps taken back.
    fn close(&self, timeout: Value) -> Result<usize, Error> {
        guard(|| {
            let timeout = to_seconds(timeout, "timeout")?;
            blocking("close", || {
                let _purging = PurgeAtOnce::begin();
                let taken_back = self.inner.close(timeout);
                release_freed_memory();
                taken_back
            })
        })
    }

    fn is_stopped(&self) -> bool {
        self.inner.is_stopped()
    }

    /// Whether this process is a fork of the one that started the engine.
    fn is_forked(&self) -> bool {
        self.inner.forked()
    }

    /// Subscribes to events matching any of `patterns` (Strings).
    fn subscribe(
        &self,
        patterns: Vec<String>,
        capacity: usize,
        overflow: String,
    ) -> Result<EventSubscription, Error> {
        guard(|| {
            let overflow = Overflow::parse(&overflow).map_err(|m| invalid("overflow", m))?;
            let sub = self
                .live()?
                .subscribe(&patterns, capacity, overflow)
                .map_err(err)?;
            Ok(EventSubscription::new(self.inner.clone(), sub))
        })
    }
}

/// Defines `TaskerCore::Native::Engine`: its whole Ruby surface, in one list.
pub fn init(ruby: &Ruby, native: &RModule) -> Result<(), Error> {
    let class = native.define_class("Engine", ruby.class_object())?;
    class.define_singleton_method("new", function!(Engine::new, 1))?;
    // `"name" => (the Rust method, its arity)`, one line a Ruby method.
    macro_rules! define {
        ($($name:literal => ($method:expr, $arity:tt)),* $(,)?) => {
            $(class.define_method($name, method!($method, $arity))?;)*
        };
    }
    define! {
        // Templates and recovery (this file, like the next three groups).
        "register_templates" => (Engine::register_templates, 1),
        "register_template_yaml" => (Engine::register_template_yaml, 2),
        "template_input" => (Engine::template_input, 2),
        "recover" => (Engine::recover, 1),
        // Sharing a database's tasks with other processes (sharing.rs).
        "start_claiming" => (Engine::start_claiming, 2),
        "stop_claiming" => (Engine::stop_claiming, 0),
        // Submitting, starting and awaiting tasks.
        "submit" => (Engine::submit, 3),
        // The common submit (common_submit.rs).
        "submit_in" => (Engine::submit_in, 4),
        "submit_common" => (Engine::submit_common, 4),
        "submit_hooks_absent" => (Engine::submit_hooks_absent, 4),
        "caller_hooks_epoch" => (Engine::caller_hooks_epoch, 0),
        "forget_submit_hooks" => (Engine::forget_submit_hooks, 0),
        "submit_identified" => (Engine::submit_identified, 4),
        "start_task" => (Engine::start_task, 4),
        "wait_for_task" => (Engine::wait_for_task, 2),
        "await_task" => (Engine::await_task, 2),
        // Events.
        "subscribe" => (Engine::subscribe, 3),
        // Stopping, and whether this process may use the engine.
        "flush" => (Engine::flush, 1),
        "commit_pending" => (Engine::commit_pending, 1),
        "stop" => (Engine::stop, 1),
        "close" => (Engine::close, 1),
        "stopped?" => (Engine::is_stopped, 0),
        "forked?" => (Engine::is_forked, 0),
        // Taking and reporting steps (steps.rs).
        "take_steps" => (Engine::take::<false>, 2),
        "take_ractor_steps" => (Engine::take::<true>, 2),
        "complete_step" => (Engine::complete_step, 2),
        "fail_step" => (Engine::fail_step, 6),
        "complete_ready" => (Engine::complete_ready, 2),
        "fail_ready" => (Engine::fail_ready, 6),
        "publish_event" => (Engine::publish_event, 3),
        // Where handlers run (steps.rs).
        "ractor_steps_in" => (Engine::ractor_steps_in, 2),
        "declare_handler_execution" => (Engine::declare_handler_execution, 2),
        "undeclared_handlers_in" => (Engine::undeclared_handlers_in, 2),
        "forget_checked_template" => (Engine::forget_checked_template, 0),
        // Manual operations (operations.rs).
        "operate" => (Engine::operate, 3),
        // Tasks (inspection.rs).
        "task" => (Engine::task, 1),
        "task_summary" => (Engine::task_summary, 1),
        "task_state" => (Engine::task_state, 1),
        "task_graph" => (Engine::task_graph, 1),
        // Listing (listing.rs).
        "list_tasks" => (Engine::list_tasks, 6),
        "task_of_step" => (Engine::task_of_step, 1),
        // Templates (inspection.rs).
        "template_graph" => (Engine::template_graph, 3),
        "template_info" => (Engine::template_info, 3),
        "template_keys" => (Engine::template_keys, 0),
        "awaiting_templates" => (Engine::awaiting_templates, 0),
        // Live numbers (insights.rs).
        "stats" => (Engine::stats, 0),
        "health" => (Engine::health, 0),
        "add_capacity" => (Engine::add_capacity, 1),
        "metrics_text" => (Engine::metrics_text, 0),
        // Stored Insights (insights.rs).
        "stored_health" => (Engine::stored_health, 0),
        "analytics_metrics" => (Engine::analytics_metrics, 1),
        "throughput" => (Engine::throughput, 3),
        "slowest" => (Engine::slowest, 6),
        "processes" => (Engine::processes, 0),
        // Deleting expired finished tasks (retention.rs).
        "start_retention" => (Engine::start_retention, 3),
        "purge_finished" => (Engine::purge_finished, 2),
        "expired_tasks" => (Engine::expired_tasks, 2),
        "purge_exported" => (Engine::purge_exported, 2),
        "retention_stats" => (Engine::retention_stats, 0),
        // Recurring schedules (schedules.rs).
        "start_schedules" => (Engine::start_schedules, 1),
        "schedule_stats" => (Engine::schedule_stats, 0),
        // Pausing namespaces and templates (pausing.rs).
        "pause" => (Engine::change_pause::<false>, 3),
        "resume" => (Engine::change_pause::<true>, 3),
        "paused" => (Engine::paused, 1),
        "size_pool" => (Engine::size_pool, 4),
    }
    Ok(())
}

// The wrapped handle is shared across Ractors and threads; this fails to compile if the
// engine's Rust type ever stops being Send + Sync.
const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<CoreEngine>();
};
