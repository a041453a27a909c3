//! Putting tasks in motion: submitting them (plain or durable), starting a pending one
//! (optionally on a route of its own), recovering stored tasks, and the manual operations.
//!
//! Each call checks what it can on the caller's thread and sends one message to the
//! orchestrator; it must not change a task's state itself.

use super::wait::await_reply;
use super::Engine;
use crate::awaiting::AwaitingTemplates;
use crate::live_task::{stored_run_at, TaskOrigin};
use crate::operations::{Operation, Request};
use crate::orchestrator::{Operate, Orchestrator, Recover, StartTask, SubmitTask};
use crate::registry::{RegisteredTemplate, TemplateRegistry};
use crate::work::Routed;
use actix::{Handler, Message};
use crossbeam_channel::{bounded, Receiver, Sender};
use serde_json::Value as Json;
use std::sync::Arc;
use std::time::Duration;
use tasker_model::{State, TaskId, TaskerError, TaskerResult, Timestamp};
use tasker_state::{Store, TaskView};

/// A task submission.
#[derive(Debug, Clone, Default)]
pub struct SubmitRequest {
    pub name: String,
    pub namespace: Option<String>,
    pub version: Option<String>,
    pub context: Json,
    pub initiator: Option<String>,
    pub source_system: Option<String>,
    pub reason: Option<String>,
    pub tags: Option<Json>,
    /// False creates the task pending, to be started later (e.g. by a coordinator).
    pub start: bool,
    /// No step starts before this time (the task is stored at once); see
    /// `live_task/schedule.rs`.
    pub run_at: Option<Timestamp>,
    /// Higher first when its steps wait for workers (default 0); see `gate`.
    pub priority: i32,
}

/// A submitted task whose creation may not be committed yet; see [`Engine::submit_durable`].
#[derive(Debug)]
pub struct DurableSubmission {
    pub task_id: TaskId,
    rx: Receiver<TaskerResult<()>>,
}

impl DurableSubmission {
    /// Waits until the task's creation is committed and returns its id; the store's error
    /// when the transaction carrying it failed (the task does not exist then), `Timeout`
    /// when `timeout` passes first (it may still commit).
    pub fn wait(&self, timeout: Duration) -> TaskerResult<TaskId> {
        let what = format!("durable submission of task {}", self.task_id);
        match await_reply(&self.rx, timeout, &what)? {
            Ok(()) => Ok(self.task_id),
            Err(e) => Err(TaskerError::Database(format!(
                "task {} was not stored, its creation's transaction failed: {e}",
                self.task_id
            ))),
        }
    }
}

/// What [`Engine::recover`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecoveryReport {
    /// Tasks now driven by this engine.
    pub resumed: usize,
    /// Their ids.
    pub resumed_ids: Vec<TaskId>,
    /// Unfinished tasks another engine owns.
    pub owned_elsewhere: usize,
    /// Tasks left alone, with why.
    pub skipped: Vec<(TaskId, String)>,
}

impl Engine {
    fn ensure_running(&self, stopping: &bool) -> TaskerResult<()> {
        if *stopping {
            return Err(TaskerError::Orchestration("the engine is stopped".into()));
        }
        if !self.orchestrator.connected() {
            return Err(TaskerError::Orchestration(
                "the engine's orchestrator is gone (its thread ended unexpectedly); start a new engine".into(),
            ));
        }
        Ok(())
    }

    /// Sends `msg` to the orchestrator unless the engine is stopping; the `stopping` lock is
    /// held across the send so the message cannot land after the shutdown message.
    pub(super) fn send_if_running<M>(&self, msg: M) -> TaskerResult<()>
    where
        M: Message<Result = ()> + Send + 'static,
        Orchestrator: Handler<M>,
    {
        let stopping = self.stopping.read();
        self.ensure_running(&stopping)?;
        self.orchestrator.do_send(msg);
        Ok(())
    }

    /// Validates and submits a task; returns its id at once. A context that violates the
    /// template's schema is refused and creates nothing. The task is durable once the
    /// store commits its creation (soon, with the next group commit; [`Engine::flush`]
    /// waits for it); use [`Engine::submit_durable`] to be told.
    pub fn submit(&self, req: SubmitRequest) -> TaskerResult<TaskId> {
        self.submit_with(req, None, None)
    }

    /// Like [`Engine::submit`], and returns a [`DurableSubmission`] that says when the task's
    /// creation is committed: a caller that must not lose the submission in a crash waits
    /// on it before acknowledging its own request.
    pub fn submit_durable(&self, req: SubmitRequest) -> TaskerResult<DurableSubmission> {
        let (tx, rx) = bounded(1);
        let task_id = self.submit_with(req, Some(tx), None)?;
        Ok(DurableSubmission { task_id, rx })
    }

    /// The submission every submit makes; `identity_hash` is an identified submission's
    /// (`identified.rs`), `None` a unique one.
    pub(super) fn submit_with(
        &self,
        req: SubmitRequest,
        durable: Option<Sender<TaskerResult<()>>>,
        identity_hash: Option<String>,
    ) -> TaskerResult<TaskId> {
        let template =
            self.registry
                .find(&req.name, req.namespace.as_deref(), req.version.as_deref())?;
        self.submit_found(template, req, durable, identity_hash)
    }

    /// [`Engine::submit`] of a template the caller already found ([`Engine::template`]),
    /// so that a caller that decides something from the template first (the Ruby binding:
    /// whether a submit hook must run) looks it up once; `req`'s name, namespace and version
    /// are not read again.
    pub fn submit_to(
        &self,
        template: Arc<RegisteredTemplate>,
        req: SubmitRequest,
    ) -> TaskerResult<TaskId> {
        self.submit_found(template, req, None, None)
    }

    fn submit_found(
        &self,
        template: Arc<RegisteredTemplate>,
        req: SubmitRequest,
        durable: Option<Sender<TaskerResult<()>>>,
        identity_hash: Option<String>,
    ) -> TaskerResult<TaskId> {
        let mut req = req;
        match &req.context {
            Json::Object(_) => {}
            Json::Null => req.context = Json::Object(Default::default()),
            other => {
                return Err(TaskerError::validation(
                    format!("context for task {}", template.key),
                    format!("must be a Hash (a JSON object), got {}", json_kind(other)),
                ))
            }
        }
        if let Some(schema) = &template.template.schema {
            schema.check(&req.context).map_err(|problems| {
                TaskerError::validation(
                    format!(
                        "context for task {} ({})",
                        template.key, template.template.source
                    ),
                    format!("does not match the template's schema: {problems}"),
                )
            })?;
        }
        let stopping = self.stopping.read();
        self.ensure_running(&stopping)?;
        let (task_id, step_ids) = self.store.allocate_ids(template.graph.len() as u32)?;
        let held = identity_hash.is_some() && !self.submit_only;
        // Marked before the orchestrator hears of it, so its finish cannot come first. A
        // client's task finishes elsewhere: waits for it read the store.
        if !self.submit_only {
            self.outcomes.submitted(task_id);
        }
        self.orchestrator.do_send(SubmitTask {
            task_id,
            step_ids,
            template,
            context: Arc::new(req.context),
            origin: TaskOrigin {
                initiator: req.initiator,
                source_system: req.source_system,
                reason: req.reason,
                tags: req.tags,
                identity_hash,
                run_at: req.run_at,
                priority: req.priority,
            },
            start: req.start,
            durable,
            // A client hands no step out anyway; a worker holds an identified task's
            // steps until it is known to be the only one (`identified.rs`).
            held,
        });
        Ok(task_id)
    }

    /// Starts a task created with `start: false`. With `routed`, its thread steps go to the
    /// returned channel instead of the shared one, for a coordinator that drives just this
    /// task (its Ractor steps still go to the Ractor pool). With `max_parallel`, at most that
    /// many of its steps are handed out at once, across both pools.
    pub fn start_task(
        &self,
        task_id: TaskId,
        routed: bool,
        max_parallel: Option<u32>,
        timeout: Duration,
    ) -> TaskerResult<Option<Receiver<Routed>>> {
        let (tx, rx) = bounded(1);
        self.send_if_running(StartTask {
            task_id,
            routed,
            max_parallel,
            reply: tx,
        })?;
        await_reply(&rx, timeout, &format!("start task {task_id}"))?
    }

    /// Takes over every unfinished task in the store that no other engine owns: steps that
    /// were handed out when the previous process died are failed (`engine_restart`) and
    /// retried; the rest continue where they were. A task whose template is not registered
    /// yet stays claimed, is listed in the report's `skipped`, and resumes as soon as its
    /// template is registered (so start-then-register works as well as the other order).
    /// A task whose stored rows cannot be read is listed in `skipped` with why, and the
    /// others resume.
    ///
    /// A client engine (its store leaves new tasks to workers) recovers nothing: it runs no
    /// handlers, so what it took would wait for a worker it will never have.
    pub fn recover(&self, timeout: Duration) -> TaskerResult<RecoveryReport> {
        if self.submit_only {
            return Ok(RecoveryReport::default());
        }
        // Before any recovered step can go out: pauses other processes set (PostgreSQL) hold
        // here too. The claim loop follows them later, but recovery runs before its first
        // round, and a restarted worker would otherwise run a paused namespace's steps.
        self.follow_shared_pauses(timeout)?;
        let ids = self.store.unfinished_tasks()?;
        let claimed = self.store.claim_tasks(&ids)?;
        let mut report = RecoveryReport {
            owned_elsewhere: ids.len() - claimed.len(),
            ..RecoveryReport::default()
        };
        self.resume_claimed(claimed, timeout, &mut report)?;
        Ok(report)
    }

    /// Restores claimed tasks from the store and hands them to the orchestrator; a task
    /// whose template is not registered is parked until it is. On a shared store a task
    /// waiting for its `run_at` is handed back, not held: the claim loop takes it once it is
    /// due, within `max_tasks` (a restarted worker would otherwise hold every waiting task of
    /// the database in memory, outside that limit).
    pub(super) fn resume_claimed(
        &self,
        claimed: Vec<TaskId>,
        timeout: Duration,
        report: &mut RecoveryReport,
    ) -> TaskerResult<()> {
        let mut tasks = read_claimed(
            self.store.as_ref(),
            &self.registry,
            &self.awaiting,
            claimed,
            report,
        )?;
        if self.store.shares_tasks() {
            let now = Timestamp::now();
            let (waiting, due): (Vec<_>, Vec<_>) = tasks
                .into_iter()
                .partition(|(view, _)| stored_run_at(view, now).is_some());
            tasks = due;
            if !waiting.is_empty() {
                let ids: Vec<TaskId> = waiting.iter().map(|(view, _)| view.task.task_id).collect();
                self.store.release_tasks(&ids)?;
            }
        }
        if tasks.is_empty() {
            return Ok(());
        }
        let (tx, rx) = bounded(1);
        self.send_if_running(Recover { tasks, reply: tx })?;
        report.resumed_ids = await_reply(&rx, timeout, "recover")??;
        report.resumed = report.resumed_ids.len();
        Ok(())
    }

    /// Runs a manual operation on a task or one of its steps and returns once it is
    /// committed (see [`crate::operations`]).
    pub fn operate(
        &self,
        task_id: TaskId,
        op: Operation,
        request: Request,
        timeout: Duration,
    ) -> TaskerResult<()> {
        // What this engine kept of the task stops being true once the operation commits;
        // until then the store answers (it holds the same).
        self.outcomes.forget(task_id);
        let view = self.read_own(|store| store.task(task_id))?.ok_or_else(|| {
            TaskerError::validation(
                format!("task {task_id}"),
                "no such task in this engine's store",
            )
        })?;
        if matches!(
            view.state,
            State::Pending | State::InProgress | State::Error
        ) && self.store.claim_tasks(&[task_id])?.is_empty()
        {
            return Err(TaskerError::Orchestration(format!(
                "task {task_id} is being orchestrated by another engine; change it there"
            )));
        }
        let key = view.task.template.clone();
        let template = self
            .registry
            .find(&key.name, Some(&key.namespace), Some(&key.version))
            .map_err(|_| {
                TaskerError::validation(
                    format!("task {task_id}"),
                    format!("its template {key} is not registered with this engine"),
                )
            })?;
        let (tx, rx) = bounded(1);
        self.send_if_running(Operate {
            task_id,
            op,
            request,
            stored: Some((view, template)),
            reply: tx,
        })?;
        await_reply(&rx, timeout, &format!("manual operation on task {task_id}"))??;
        if self.submit_only {
            // Committed; a client does not drive the task (its orchestrator let it go):
            // hand the claim back so a worker takes it.
            self.store.release_tasks(&[task_id])?;
        }
        Ok(())
    }
}

/// A JSON value's kind and, for short scalars, the value, for error messages.
fn json_kind(value: &Json) -> String {
    match value {
        Json::Array(_) => "an Array".into(),
        Json::String(s) if s.len() <= 40 => format!("a String ({s:?})"),
        Json::String(_) => "a String".into(),
        other => format!("{other}"),
    }
}

/// Claimed tasks read from the store with their templates, for [`Recover`]; a task whose
/// template is not registered is parked in `awaiting` (and listed in `report.skipped`)
/// until it is, and a task whose stored rows cannot be read is listed in `report.skipped`
/// with why. When the store fails to answer a read, every task of `claimed` is released
/// (none was resumed) and the error returned: the next claim takes them again.
pub(super) fn read_claimed(
    store: &dyn Store,
    registry: &TemplateRegistry,
    awaiting: &AwaitingTemplates,
    claimed: Vec<TaskId>,
    report: &mut RecoveryReport,
) -> TaskerResult<Vec<(TaskView, Arc<RegisteredTemplate>)>> {
    let reads = read_tasks(store, &claimed);
    if let Some(failed) = reads.iter().find_map(|(_, read)| match read {
        Err(e) if !matches!(e, TaskerError::Unreadable(_)) => Some(e.clone()),
        _ => None,
    }) {
        // Held but not driven, they would wait for this process to exit.
        if let Err(e) = store.release_tasks(&claimed) {
            tasker_metrics::log_error!(
                "tasker-core: releasing {} claimed task(s): {e}",
                claimed.len()
            );
        }
        return Err(failed);
    }
    let mut tasks = Vec::with_capacity(claimed.len());
    for (id, read) in reads {
        let view = match read {
            Ok(Some(view)) => view,
            Ok(None) => continue,
            // Only `Unreadable` is left (the rest returned above). One row nobody can read (written by another tool or an older version) must
            // not keep every other task from resuming, nor the engine from starting. It
            // stays claimed: another engine would only fail on it the same way.
            Err(e) => {
                report
                    .skipped
                    .push((id, format!("its stored rows cannot be read: {e}")));
                continue;
            }
        };
        let key = &view.task.template;
        match registry.find(&key.name, Some(&key.namespace), Some(&key.version)) {
            Ok(template) => tasks.push((view, template)),
            Err(_) => {
                let (id, key) = (view.task.task_id, key.to_string());
                awaiting.park(&key, id);
                report.skipped.push((
                    id,
                    format!("template {key} is not registered; the task resumes when it is"),
                ));
            }
        }
    }
    Ok(tasks)
}

/// Store reads of claimed tasks run at once: each read is several round trips, so a batch
/// of claimed tasks read one by one took longer than running them. The pool has five
/// connections; one stays for the state actor's writes.
const READERS: usize = 3;

/// Each of `ids` with its stored view (`None`: gone from the store), in order.
type TaskReads = Vec<(TaskId, TaskerResult<Option<TaskView>>)>;

/// The stored views of `ids`, each read on its own so one failure names its task.
fn read_tasks(store: &dyn Store, ids: &[TaskId]) -> TaskReads {
    let read_part =
        |part: &[TaskId]| -> TaskReads { part.iter().map(|id| (*id, store.task(*id))).collect() };
    if ids.len() < 2 * READERS {
        return read_part(ids);
    }
    let chunk = ids.len().div_ceil(READERS);
    let read: Vec<TaskReads> = std::thread::scope(|s| {
        let readers: Vec<_> = ids
            .chunks(chunk)
            .map(|part| s.spawn(move || read_part(part)))
            .collect();
        readers
            .into_iter()
            .map(|r| {
                r.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    read.into_iter().flatten().collect()
}
