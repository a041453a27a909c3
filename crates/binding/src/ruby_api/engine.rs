//! `TaskerCore::Native::Engine`: the shareable handle over a running engine.
//!
//! Calls that change something return at once; waits release the GVL and can be interrupted.
//! Positional arguments only: `TaskerCore::Engine` (Ruby) owns keywords and defaults.

use super::event_subscription::EventSubscription;
use super::ready_step::ReadyStep;
use super::task_graph::TaskGraph;
use super::task_route::TaskRoute;
use crate::helpers::convert::{opt_time, time_to_ruby, to_i64, to_json, to_ruby, to_seconds};
use crate::helpers::errors::{error, guard, invalid, to_ruby as err};
use crate::helpers::nogvl::{check_interrupts, nogvl};
use magnus::{function, method, prelude::*, Error, RArray, RHash, RModule, Ruby, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tasker_engine::engine::{Interrupt, WaitEnd};
use tasker_engine::manual::{Operation, Request};
use tasker_engine::{Engine as CoreEngine, EngineOptions, StepFailure, SubmitRequest};
use tasker_event_bus::Overflow;
use tasker_model::{EngineConfig, Execution, StepId, TaskId, TaskerError};
use tasker_state::{StepView, TaskView, TransitionRecord};

/// The store a `database_url` names: `memory:` is the in-process store (nothing survives
/// the process); anything else is a SQL store (`tasker_state::open_store`).
fn open_store(url: &str) -> tasker_model::TaskerResult<Arc<dyn tasker_state::Store>> {
    if url == "memory:" {
        return Ok(Arc::new(tasker_state::MemoryStore::new()));
    }
    tasker_state::open_store(url)
}

/// See the module documentation.
#[magnus::wrap(
    class = "TaskerCore::Native::Engine",
    free_immediately,
    size,
    frozen_shareable
)]
pub struct Engine {
    pub(crate) inner: Arc<CoreEngine>,
}

fn opt<T: magnus::TryConvert>(ruby: &Ruby, h: RHash, key: &str) -> Result<Option<T>, Error> {
    match h.get(ruby.to_symbol(key)) {
        Some(v) if !v.is_nil() => T::try_convert(v)
            .map(Some)
            .map_err(|e| invalid(&format!("option {key}"), e)),
        _ => Ok(None),
    }
}

fn opt_string(v: Value, what: &str) -> Result<Option<String>, Error> {
    if v.is_nil() {
        return Ok(None);
    }
    String::try_convert(v)
        .map(Some)
        .map_err(|_| invalid(what, "expected a String"))
}

fn with_interrupt<R>(
    work: impl FnOnce(&Interrupt) -> R,
    also: impl Fn(),
) -> crate::helpers::nogvl::Outcome<R> {
    let interrupt = Interrupt::default();
    nogvl(
        || work(&interrupt),
        || {
            interrupt.trigger();
            also();
        },
    )
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
            if let Some(url) = opt::<String>(ruby, options, "database_url")? {
                // Opening a SQL store connects and migrates: no GVL needed for that.
                let outcome = nogvl(move || open_store(&url), || {});
                if let Some(e) = outcome.error {
                    return Err(e);
                }
                let store = outcome.value.unwrap_or_else(|| {
                    Err(tasker_model::TaskerError::Orchestration(
                        "opening the store was interrupted".into(),
                    ))
                });
                engine_options.store = Some(store.map_err(err)?);
            }
            let inner = CoreEngine::start(engine_options).map_err(err)?;
            Ok(Engine {
                inner: Arc::new(inner),
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

    fn register_template_yaml(&self, yaml: String, source: String) -> Result<Vec<String>, Error> {
        guard(|| {
            self.live()?
                .register_template_yaml(&yaml, &source)
                .map_err(err)
        })
    }

    fn template_keys(&self) -> Vec<String> {
        self.inner.template_keys()
    }

    /// `{"namespace/name@version" => [task_id, ...]}`: unfinished tasks `recover` claimed
    /// that wait for their template to be registered.
    fn awaiting_templates(ruby: &Ruby, rb_self: &Self) -> Result<RHash, Error> {
        let h = ruby.hash_new();
        for (key, ids) in rb_self.inner.awaiting_templates() {
            h.aset(key, ids.iter().map(|id| id.0).collect::<Vec<_>>())?;
        }
        Ok(h)
    }

    /// A registered template described as a Hash (name, namespace, version, source, steps…).
    fn template_info(
        ruby: &Ruby,
        rb_self: &Self,
        name: String,
        namespace: Value,
        version: Value,
    ) -> Result<RHash, Error> {
        guard(|| {
            let ns = opt_string(namespace, "namespace")?;
            let ver = opt_string(version, "version")?;
            let t = rb_self
                .inner
                .template(&name, ns.as_deref(), ver.as_deref())
                .map_err(err)?;
            let h = ruby.hash_new();
            h.aset("name", &*t.task_name)?;
            h.aset("namespace", &*t.namespace)?;
            h.aset("version", &*t.version)?;
            h.aset("source", t.template.source.as_str())?;
            h.aset("task_handler_class", t.template.task_handler_class.clone())?;
            h.aset("module_namespace", t.template.module_namespace.clone())?;
            h.aset("description", t.template.description.clone())?;
            h.aset("custom_events", t.template.custom_events.clone())?;
            let steps = ruby.ary_new_capa(t.graph.len());
            for (i, st) in t.template.step_templates.iter().enumerate() {
                let s = ruby.hash_new();
                s.aset("name", st.name.as_str())?;
                s.aset("handler_class", st.handler_class.as_str())?;
                s.aset(
                    "depends_on",
                    t.graph
                        .parents(i as u32)
                        .iter()
                        .map(|&p| t.graph.name(p).to_string())
                        .collect::<Vec<_>>(),
                )?;
                s.aset("retry_limit", st.default_retry_limit)?;
                s.aset("retryable", st.default_retryable)?;
                s.aset("skippable", st.skippable)?;
                s.aset("level", t.graph.level(i as u32))?;
                s.aset("handler_config", to_ruby(ruby, &t.handler_configs[i])?)?;
                steps.push(s)?;
            }
            h.aset("steps", steps)?;
            Ok(h)
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn submit(
        ruby: &Ruby,
        rb_self: &Self,
        name: String,
        context: Value,
        namespace: Value,
        version: Value,
        initiator: Value,
        source_system: Value,
        reason: Value,
        tags: Value,
        start: bool,
        durable_timeout: Value,
    ) -> Result<i64, Error> {
        let started = Instant::now();
        guard(|| {
            let durable_timeout = if durable_timeout.is_nil() {
                None
            } else {
                Some(to_seconds(durable_timeout, "durable")?)
            };
            let request = SubmitRequest {
                context: to_json(ruby, context, || "context".to_string())?,
                namespace: opt_string(namespace, "namespace")?,
                version: opt_string(version, "version")?,
                initiator: opt_string(initiator, "initiator")?,
                source_system: opt_string(source_system, "source_system")?,
                reason: opt_string(reason, "reason")?,
                tags: if tags.is_nil() {
                    None
                } else {
                    Some(to_json(ruby, tags, || "tags".to_string())?)
                },
                start,
                name,
            };
            let Some(timeout) = durable_timeout else {
                let id = rb_self.live()?.submit(request).map(|id| id.0).map_err(err);
                rb_self.inner.metrics().submit.record(started.elapsed());
                return id;
            };
            // The submission itself is quick; only the wait for its commit lets go of the GVL.
            let submission = rb_self.live()?.submit_durable(request).map_err(err)?;
            let task_id = submission.task_id;
            let outcome = nogvl(move || submission.wait(timeout), || {});
            if let Some(e) = outcome.error {
                return Err(e);
            }
            outcome
                .value
                .unwrap_or_else(|| {
                    Err(TaskerError::Orchestration(format!(
                        "durable submission of task {task_id}: the wait was cut short; the task may still commit"
                    )))
                })
                .map(|id| id.0)
                .map_err(err)
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

    /// Up to `max` ready thread-pool steps, waiting up to `timeout` seconds (GVL released)
    /// for the first.
    fn next_steps(
        ruby: &Ruby,
        rb_self: &Self,
        max: usize,
        timeout: Value,
    ) -> Result<RArray, Error> {
        Self::drain(ruby, rb_self, Execution::Thread, max, timeout)
    }

    /// Up to `max` ready steps of `execution: ractor` handlers, for a Ractor pool.
    fn next_ractor_steps(
        ruby: &Ruby,
        rb_self: &Self,
        max: usize,
        timeout: Value,
    ) -> Result<RArray, Error> {
        Self::drain(ruby, rb_self, Execution::Ractor, max, timeout)
    }

    fn drain(
        ruby: &Ruby,
        rb_self: &Self,
        executor: Execution,
        max: usize,
        timeout: Value,
    ) -> Result<RArray, Error> {
        guard(|| {
            let timeout = to_seconds(timeout, "timeout")?;
            let engine = rb_self.live()?;
            let mut started = Instant::now();
            let mut steps = engine.try_next_steps_for(executor, max).map_err(err)?;
            if steps.is_empty() && !timeout.is_zero() {
                let outcome = with_interrupt(
                    |i| engine.wait_next_steps_for(executor, max, timeout, i),
                    || {},
                );
                if let Some(Ok(got)) = outcome.value {
                    steps = got;
                }
                // The metric is the work of a drain, not the wait for work.
                started = Instant::now();
                if let Some(e) = outcome.error {
                    // Ruby raised (Thread#kill, #raise, a signal) after steps were taken:
                    // give them back as failed attempts so they run again.
                    give_back(
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

    /// `[[handler_class, where], …]` of the `execution: ractor` steps in the templates at
    /// `path` (or in `yaml` when given); registers nothing.
    fn ractor_steps_in(&self, path: String, yaml: Value) -> Result<Vec<(String, String)>, Error> {
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

    /// Records that `handler_class` declares its steps run on `execution` ("thread" or
    /// "ractor") unless a template step says otherwise.
    fn declare_handler_execution(
        &self,
        handler_class: String,
        execution: String,
    ) -> Result<(), Error> {
        guard(|| {
            let execution = Execution::ALL
                .into_iter()
                .find(|e| e.as_str() == execution)
                .ok_or_else(|| {
                    invalid(
                        "execution",
                        format!("{handler_class}: must be thread or ractor, not {execution:?}"),
                    )
                })?;
            self.live()?
                .declare_handler_execution(&handler_class, execution);
            Ok(())
        })
    }

    /// Handler classes of the steps at `path` (or in `yaml`) that do not say where they run.
    fn undeclared_handlers_in(&self, path: String, yaml: Value) -> Result<Vec<String>, Error> {
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

    /// Whether this process is a fork of the one that started the engine.
    fn is_forked(&self) -> bool {
        self.inner.forked()
    }

    fn complete_step(
        ruby: &Ruby,
        rb_self: &Self,
        step_id: Value,
        results: Value,
    ) -> Result<(), Error> {
        let started = Instant::now();
        guard(|| {
            let id = StepId(to_i64(step_id, "step_id")?);
            let results = to_json(ruby, results, || format!("results of step {id}"))?;
            let done = rb_self.live()?.complete_step(id, results).map_err(err);
            rb_self.inner.metrics().complete.record(started.elapsed());
            done
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn fail_step(
        ruby: &Ruby,
        rb_self: &Self,
        step_id: Value,
        error_class: String,
        message: String,
        retryable: bool,
        retry_after: Value,
        details: Value,
    ) -> Result<(), Error> {
        let started = Instant::now();
        guard(|| {
            let id = StepId(to_i64(step_id, "step_id")?);
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
            rb_self
                .live()?
                .fail_step(
                    id,
                    StepFailure {
                        error_class,
                        message,
                        retryable,
                        retry_after,
                        details,
                    },
                )
                .map_err(err)
                .inspect(|()| rb_self.inner.metrics().fail.record(started.elapsed()))
        })
    }

    fn publish_event(
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
            let inner = rb_self.inner.clone();
            let outcome = nogvl(
                move || inner.publish_custom_event(id, &name, payload, Duration::from_secs(10)),
                || {},
            );
            if let Some(e) = outcome.error {
                return Err(e);
            }
            outcome
                .value
                .unwrap_or_else(|| {
                    Err(TaskerError::Orchestration(
                        "publishing the event was interrupted".into(),
                    ))
                })
                .map_err(err)
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
            let outcome = with_interrupt(
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
                    Err(err(tasker_model::TaskerError::Timeout(format!(
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

    /// The task as stored, as a Hash, or nil.
    fn task(ruby: &Ruby, rb_self: &Self, task_id: Value) -> Result<Option<RHash>, Error> {
        guard(|| {
            let id = TaskId(to_i64(task_id, "task_id")?);
            match read_task(rb_self.live()?, id)? {
                Some(view) => Ok(Some(task_hash(ruby, &view)?)),
                None => Ok(None),
            }
        })
    }

    /// The task's step graph as stored now (`Native::TaskGraph`), or nil when there is no
    /// such task.
    fn task_graph(rb_self: &Self, task_id: Value) -> Result<Option<TaskGraph>, Error> {
        guard(|| {
            let id = TaskId(to_i64(task_id, "task_id")?);
            let inner = rb_self.live()?.clone();
            let outcome = nogvl(move || inner.task_graph(id), || {});
            if let Some(e) = outcome.error {
                return Err(e);
            }
            let graph = outcome
                .value
                .unwrap_or_else(|| {
                    Err(TaskerError::Orchestration(
                        "the read was interrupted".into(),
                    ))
                })
                .map_err(err)?;
            Ok(graph.map(TaskGraph::from_task))
        })
    }

    /// A registered template's step graph (`Native::TaskGraph`).
    fn template_graph(
        rb_self: &Self,
        name: String,
        namespace: Value,
        version: Value,
    ) -> Result<TaskGraph, Error> {
        guard(|| {
            let ns = opt_string(namespace, "namespace")?;
            let ver = opt_string(version, "version")?;
            let t = rb_self
                .inner
                .template(&name, ns.as_deref(), ver.as_deref())
                .map_err(err)?;
            Ok(TaskGraph::from_dag(tasker_graph::Dag::from_template_graph(
                &t.graph,
            )))
        })
    }

    /// The task's current state ("pending", "in_progress", ...), or nil when there is no
    /// such task: one indexed read, with the GVL released.
    fn task_state(rb_self: &Self, task_id: Value) -> Result<Option<String>, Error> {
        guard(|| {
            let id = TaskId(to_i64(task_id, "task_id")?);
            let inner = rb_self.inner.clone();
            let outcome = nogvl(move || inner.task_state(id), || {});
            if let Some(e) = outcome.error {
                return Err(e);
            }
            outcome
                .value
                .unwrap_or_else(|| {
                    Err(TaskerError::Orchestration(
                        "the read was interrupted".into(),
                    ))
                })
                .map(|s| s.map(|s| s.as_str().to_string()))
                .map_err(err)
        })
    }

    /// The task's state and, per step, its outcome — without history, so a result for a
    /// large task is cheap. nil when there is no such task.
    fn task_summary(ruby: &Ruby, rb_self: &Self, task_id: Value) -> Result<Option<RHash>, Error> {
        guard(|| {
            let id = TaskId(to_i64(task_id, "task_id")?);
            let Some(view) = read_task(rb_self.live()?, id)? else {
                return Ok(None);
            };
            let h = ruby.hash_new();
            h.aset("task_id", view.task.task_id.0)?;
            h.aset("state", view.state.as_str())?;
            let steps = ruby.ary_new_capa(view.steps.len());
            for s in &view.steps {
                let sh = ruby.hash_new();
                sh.aset("step_id", s.step.step_id.0)?;
                sh.aset("name", &*s.step.name)?;
                sh.aset("state", s.state.as_str())?;
                sh.aset("attempts", s.step.attempts.unwrap_or(0))?;
                sh.aset(
                    "results",
                    match &s.step.results {
                        Some(j) => to_ruby(ruby, j)?,
                        None => ruby.qnil().as_value(),
                    },
                )?;
                let error = s
                    .transitions
                    .iter()
                    .rev()
                    .find(|t| t.to_state == tasker_model::State::Error)
                    .and_then(|t| t.meta.error_message.clone());
                sh.aset("error", error)?;
                steps.push(sh)?;
            }
            h.aset("steps", steps)?;
            Ok(Some(h))
        })
    }

    /// Takes over unfinished tasks from the store; `{resumed:, owned_elsewhere:, skipped:}`.
    fn recover(ruby: &Ruby, rb_self: &Self, timeout: Value) -> Result<RHash, Error> {
        guard(|| {
            let timeout = to_seconds(timeout, "timeout")?;
            let inner = rb_self.live()?.clone();
            let outcome = nogvl(move || inner.recover(timeout), || {});
            if let Some(e) = outcome.error {
                return Err(e);
            }
            let report = outcome
                .value
                .unwrap_or_else(|| {
                    Err(tasker_model::TaskerError::Orchestration(
                        "recover was interrupted".into(),
                    ))
                })
                .map_err(err)?;
            let h = ruby.hash_new();
            h.aset(ruby.to_symbol("resumed"), report.resumed)?;
            h.aset(
                ruby.to_symbol("task_ids"),
                report.resumed_ids.iter().map(|id| id.0).collect::<Vec<_>>(),
            )?;
            h.aset(ruby.to_symbol("owned_elsewhere"), report.owned_elsewhere)?;
            let skipped = ruby.ary_new();
            for (id, why) in report.skipped {
                skipped.push((id.0, why))?;
            }
            h.aset(ruby.to_symbol("skipped"), skipped)?;
            Ok(h)
        })
    }

    /// Runs a manual operation (see `TaskerCore::Task` / `TaskerCore::Step`); returns once
    /// it is committed.
    #[allow(clippy::too_many_arguments)]
    fn manipulate(
        ruby: &Ruby,
        rb_self: &Self,
        task_id: Value,
        operation: String,
        step_id: Value,
        payload: Value,
        reason: Value,
        expect_sort_key: Value,
        timeout: Value,
    ) -> Result<(), Error> {
        guard(|| {
            let task_id = TaskId(to_i64(task_id, "task_id")?);
            let step = || -> Result<StepId, Error> { Ok(StepId(to_i64(step_id, "step_id")?)) };
            let op = match operation.as_str() {
                "reset_for_retry" => Operation::ResetStepForRetry {
                    step_id: step()?,
                    retry_limit: if payload.is_nil() {
                        None
                    } else {
                        let n = to_i64(payload, "new_retry_limit")?;
                        Some(u32::try_from(n).map_err(|_| {
                            invalid("new_retry_limit", "must be between 0 and 4294967295")
                        })?)
                    },
                },
                "mark_pending" => Operation::MarkStepPending { step_id: step()? },
                "update_results" => Operation::UpdateStepResults {
                    step_id: step()?,
                    results: to_json(ruby, payload, || "results".to_string())?,
                },
                "mark_completed" => Operation::MarkStepCompleted {
                    step_id: step()?,
                    results: to_json(ruby, payload, || "results".to_string())?,
                },
                "cancel" => Operation::CancelTask,
                "retry" => Operation::RetryTask,
                "resolve_manually" => Operation::ResolveTaskManually,
                other => return Err(invalid("operation", format!("unknown operation {other:?}"))),
            };
            let request = Request {
                reason: opt_string(reason, "reason")?,
                expect_sort_key: if expect_sort_key.is_nil() {
                    None
                } else {
                    Some(
                        i32::try_from(to_i64(expect_sort_key, "expect_sort_key")?)
                            .map_err(|_| invalid("expect_sort_key", "out of range"))?,
                    )
                },
            };
            let timeout = to_seconds(timeout, "timeout")?;
            let inner = rb_self.live()?.clone();
            let outcome = nogvl(
                move || inner.manipulate(task_id, op, request, timeout),
                || {},
            );
            if let Some(e) = outcome.error {
                return Err(e);
            }
            outcome
                .value
                .unwrap_or_else(|| {
                    Err(tasker_model::TaskerError::Orchestration(
                        "the operation was interrupted".into(),
                    ))
                })
                .map_err(err)
        })
    }

    fn flush(&self, timeout: Value) -> Result<(), Error> {
        guard(|| {
            let timeout = to_seconds(timeout, "timeout")?;
            let inner = self.live()?.clone();
            let outcome = nogvl(move || inner.flush(timeout), || {});
            if let Some(e) = outcome.error {
                return Err(e);
            }
            outcome.value.unwrap_or(Ok(())).map_err(err)
        })
    }

    /// Stops the engine; returns how many steps were taken back.
    fn stop(&self, timeout: Value) -> Result<usize, Error> {
        guard(|| {
            let timeout = to_seconds(timeout, "timeout")?;
            let inner = self.inner.clone();
            let outcome = nogvl(move || inner.stop(timeout), || {});
            if let Some(e) = outcome.error {
                return Err(e);
            }
            outcome.value.unwrap_or(Ok(0)).map_err(err)
        })
    }

    /// Stops the engine and closes its store (connections, claims); returns steps taken back.
    fn close(&self, timeout: Value) -> Result<usize, Error> {
        guard(|| {
            let timeout = to_seconds(timeout, "timeout")?;
            let inner = self.inner.clone();
            let outcome = nogvl(move || inner.close(timeout), || {});
            if let Some(e) = outcome.error {
                return Err(e);
            }
            outcome.value.unwrap_or(Ok(0)).map_err(err)
        })
    }

    fn is_stopped(&self) -> bool {
        self.inner.is_stopped()
    }

    fn stats(ruby: &Ruby, rb_self: &Self) -> Result<RHash, Error> {
        let h = ruby.hash_new();
        for (k, v) in rb_self.inner.stats() {
            h.aset(ruby.to_symbol(k), v)?;
        }
        h.aset(
            ruby.to_symbol("steps_per_second"),
            rb_self.inner.steps_per_second(),
        )?;
        h.aset(
            ruby.to_symbol("uptime_seconds"),
            rb_self.inner.uptime().as_secs_f64(),
        )?;
        let latency = ruby.hash_new();
        for (name, snap) in rb_self.inner.latency() {
            let op = ruby.hash_new();
            op.aset(ruby.to_symbol("count"), snap.count)?;
            op.aset(ruby.to_symbol("mean_us"), snap.mean_seconds() * 1e6)?;
            op.aset(ruby.to_symbol("p50_us"), snap.quantile_seconds(0.5) * 1e6)?;
            op.aset(ruby.to_symbol("p99_us"), snap.quantile_seconds(0.99) * 1e6)?;
            latency.aset(ruby.to_symbol(name), op)?;
        }
        h.aset(ruby.to_symbol("latency"), latency)?;
        Ok(h)
    }

    /// Live counts as one Array of Integers, in this order: total, pending, in_progress,
    /// complete, error, cancelled, resolved_manually tasks; the same for steps; retryable
    /// and exhausted error steps; steps in flight; pool capacity. An Array rather than a
    /// Hash because `SystemHealthCounts.current` is meant to cost microseconds.
    fn health(ruby: &Ruby, rb_self: &Self) -> Result<RArray, Error> {
        let c = rb_self.inner.health();
        let out = ruby.ary_new_capa(20);
        out.push(c.total_tasks)?;
        for n in c.tasks_by_state() {
            out.push(n)?;
        }
        out.push(c.total_steps)?;
        for n in c.steps_by_state() {
            out.push(n)?;
        }
        out.push(c.retryable_error_steps)?;
        out.push(c.exhausted_retry_steps)?;
        out.push(rb_self.inner.steps_in_flight())?;
        out.push(rb_self.inner.capacity())?;
        Ok(out)
    }

    /// Adds `slots` (negative: removes) to the steps the pools can run at once.
    fn add_capacity(&self, slots: isize) {
        self.inner.add_capacity(slots);
    }

    /// Every counter, gauge and latency histogram in the Prometheus text format.
    fn metrics_text(&self) -> String {
        self.inner.metrics_text()
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
                .inner
                .subscribe(&patterns, capacity, overflow)
                .map_err(err)?;
            Ok(EventSubscription::new(self.live()?.clone(), sub))
        })
    }
}

/// Reads a task from the store with the GVL released (a SQL store goes to the database).
fn read_task(engine: &Arc<CoreEngine>, id: TaskId) -> Result<Option<TaskView>, Error> {
    let inner = engine.clone();
    let outcome = nogvl(move || inner.task(id), || {});
    if let Some(e) = outcome.error {
        return Err(e);
    }
    outcome
        .value
        .unwrap_or_else(|| {
            Err(tasker_model::TaskerError::Orchestration(
                "the read was interrupted".into(),
            ))
        })
        .map_err(err)
}

/// Fails steps a worker took but will not run, so they are retried rather than stranded.
pub fn give_back(engine: &CoreEngine, steps: &[tasker_engine::ReadyStep], why: &str) {
    for s in steps {
        let _ = engine.fail_step(
            s.step_id,
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

/// Wraps ready steps as `Native::ReadyStep` objects.
pub fn wrap_steps(ruby: &Ruby, steps: Vec<tasker_engine::ReadyStep>) -> Result<RArray, Error> {
    let out = ruby.ary_new_capa(steps.len());
    for s in steps {
        out.push(ReadyStep::new(s))?;
    }
    Ok(out)
}

fn transitions(ruby: &Ruby, rows: &[TransitionRecord]) -> Result<RArray, Error> {
    let out = ruby.ary_new_capa(rows.len());
    for t in rows {
        let h = ruby.hash_new();
        h.aset("from_state", t.from_state.map(|s| s.as_str()))?;
        h.aset("to_state", t.to_state.as_str())?;
        h.aset("sort_key", t.sort_key)?;
        h.aset("most_recent", t.most_recent)?;
        h.aset("created_at", time_to_ruby(ruby, t.created_at)?)?;
        h.aset("metadata", to_ruby(ruby, &t.meta.to_json())?)?;
        out.push(h)?;
    }
    Ok(out)
}

fn step_hash(ruby: &Ruby, s: &StepView) -> Result<RHash, Error> {
    let r = &s.step;
    let h = ruby.hash_new();
    h.aset("step_id", r.step_id.0)?;
    h.aset("task_id", r.task_id.0)?;
    h.aset("name", &*r.name)?;
    h.aset("state", s.state.as_str())?;
    h.aset("retryable", r.retryable)?;
    h.aset("retry_limit", r.retry_limit)?;
    h.aset("in_process", r.in_process)?;
    h.aset("processed", r.processed)?;
    h.aset("processed_at", opt_time(ruby, r.processed_at)?)?;
    h.aset("attempts", r.attempts)?;
    h.aset("last_attempted_at", opt_time(ruby, r.last_attempted_at)?)?;
    h.aset("backoff_request_seconds", r.backoff_request_seconds)?;
    h.aset(
        "results",
        match &r.results {
            Some(j) => to_ruby(ruby, j)?,
            None => ruby.qnil().as_value(),
        },
    )?;
    h.aset("skippable", r.skippable)?;
    h.aset(
        "parent_ids",
        s.parents.iter().map(|p| p.0).collect::<Vec<_>>(),
    )?;
    h.aset("created_at", time_to_ruby(ruby, r.created_at)?)?;
    h.aset("updated_at", time_to_ruby(ruby, r.updated_at)?)?;
    h.aset("transitions", transitions(ruby, &s.transitions)?)?;
    Ok(h)
}

fn task_hash(ruby: &Ruby, v: &TaskView) -> Result<RHash, Error> {
    let t = &v.task;
    let h = ruby.hash_new();
    h.aset("task_id", t.task_id.0)?;
    h.aset("name", t.template.name.as_str())?;
    h.aset("namespace", t.template.namespace.as_str())?;
    h.aset("version", t.template.version.as_str())?;
    h.aset("state", v.state.as_str())?;
    h.aset("complete", t.complete)?;
    h.aset("context", to_ruby(ruby, &t.context)?)?;
    h.aset("initiator", t.initiator.clone())?;
    h.aset("source_system", t.source_system.clone())?;
    h.aset("reason", t.reason.clone())?;
    h.aset("tags", to_ruby(ruby, &t.tags)?)?;
    h.aset("requested_at", time_to_ruby(ruby, t.requested_at)?)?;
    h.aset("created_at", time_to_ruby(ruby, t.created_at)?)?;
    h.aset("updated_at", time_to_ruby(ruby, t.updated_at)?)?;
    h.aset("transitions", transitions(ruby, &v.transitions)?)?;
    let steps = ruby.ary_new_capa(v.steps.len());
    for s in &v.steps {
        steps.push(step_hash(ruby, s)?)?;
    }
    h.aset("steps", steps)?;
    Ok(h)
}

/// Defines `TaskerCore::Native::Engine`.
pub fn init(ruby: &Ruby, native: &RModule) -> Result<(), Error> {
    let class = native.define_class("Engine", ruby.class_object())?;
    class.define_singleton_method("new", function!(Engine::new, 1))?;
    class.define_method("register_templates", method!(Engine::register_templates, 1))?;
    class.define_method(
        "register_template_yaml",
        method!(Engine::register_template_yaml, 2),
    )?;
    class.define_method("template_keys", method!(Engine::template_keys, 0))?;
    class.define_method("awaiting_templates", method!(Engine::awaiting_templates, 0))?;
    class.define_method("template_info", method!(Engine::template_info, 3))?;
    class.define_method("submit", method!(Engine::submit, 10))?;
    class.define_method("start_task", method!(Engine::start_task, 4))?;
    class.define_method("next_steps", method!(Engine::next_steps, 2))?;
    class.define_method("next_ractor_steps", method!(Engine::next_ractor_steps, 2))?;
    class.define_method("forked?", method!(Engine::is_forked, 0))?;
    class.define_method(
        "declare_handler_execution",
        method!(Engine::declare_handler_execution, 2),
    )?;
    class.define_method(
        "undeclared_handlers_in",
        method!(Engine::undeclared_handlers_in, 2),
    )?;
    class.define_method("ractor_steps_in", method!(Engine::ractor_steps_in, 2))?;
    class.define_method("complete_step", method!(Engine::complete_step, 2))?;
    class.define_method("fail_step", method!(Engine::fail_step, 6))?;
    class.define_method("publish_event", method!(Engine::publish_event, 3))?;
    class.define_method("wait_for_task", method!(Engine::wait_for_task, 2))?;
    class.define_method("await_task", method!(Engine::await_task, 2))?;
    class.define_method("task", method!(Engine::task, 1))?;
    class.define_method("task_summary", method!(Engine::task_summary, 1))?;
    class.define_method("task_state", method!(Engine::task_state, 1))?;
    class.define_method("task_graph", method!(Engine::task_graph, 1))?;
    class.define_method("template_graph", method!(Engine::template_graph, 3))?;
    class.define_method("recover", method!(Engine::recover, 1))?;
    class.define_method("manipulate", method!(Engine::manipulate, 7))?;
    class.define_method("flush", method!(Engine::flush, 1))?;
    class.define_method("stop", method!(Engine::stop, 1))?;
    class.define_method("close", method!(Engine::close, 1))?;
    class.define_method("stopped?", method!(Engine::is_stopped, 0))?;
    class.define_method("stats", method!(Engine::stats, 0))?;
    class.define_method("metrics_text", method!(Engine::metrics_text, 0))?;
    class.define_method("health", method!(Engine::health, 0))?;
    super::insights::define(&class)?;
    class.define_method("add_capacity", method!(Engine::add_capacity, 1))?;
    class.define_method("subscribe", method!(Engine::subscribe, 3))?;
    Ok(())
}

// The wrapped handle is shared across Ractors and threads; this fails to compile if the
// engine's Rust type ever stops being Send + Sync.
const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<CoreEngine>();
};
