//! One running task and the rules that move it.
//!
//! Every method here is a plain state change that records what it did in [`Effects`]
//! (store changes, events, steps to hand out, retries to schedule, whether the task ended).
//! The orchestrator actor applies the effects; keeping the rules out of the actor lets them
//! be tested without a running System. This file holds the task's state and the moves every
//! rule shares; the rules are grouped by what starts them:
//! - `dispatch`: starting a task, handing steps out, a worker starting one, a retry coming
//!   due, handing steps back at shutdown.
//! - `reports`: a worker's report (complete, fail, custom event) and the task finishing.
//! - `operate`: the manual operations ([`crate::operations`]).
//! - `recovery`: a stored task brought back to life.
//! - `timeouts`: an attempt that ran past its step's timeout.
//!
//! Nothing here talks to actors, channels or the store: a rule only records [`Effects`].

mod dispatch;
mod operate;
mod recovery;
mod reports;
mod schedule;

pub(crate) use schedule::stored_run_at;
#[cfg(test)]
mod tests;
mod timeouts;

pub use timeouts::TIMEOUT_ERROR_CLASS;

use crate::registry::RegisteredTemplate;
use crate::work::Routed;
use crossbeam_channel::{Receiver, Sender};
use serde_json::{json, Value as Json};
use std::sync::Arc;
use std::time::Duration;
use tasker_event_bus::{Event, EventMask, LifecycleEvent};
use tasker_model::{State, StepId, TaskId, Timestamp};
use tasker_resolver::RuntimeDag;
use tasker_state::{Change, NewTask, StepPatch, StepRecord, TaskRecord, TransitionMeta};

/// What handling one message decided, for the orchestrator to carry out.
#[derive(Debug, Default)]
pub struct Effects {
    pub changes: Vec<Change>,
    pub events: Vec<Event>,
    /// The kinds of events someone subscribes to: only those are built (they cost
    /// allocations).
    pub events_wanted: EventMask,
    /// Steps (by template index) to hand out now.
    pub dispatch: Vec<u32>,
    /// Steps to retry after a delay.
    pub retries: Vec<(u32, Duration)>,
    /// Steps of a task submitted with `run_at` to hand out once it comes (schedules).
    pub delayed: Vec<(u32, Duration)>,
    /// The task reached this final state.
    pub finished: Option<State>,
    /// Steps that were handed out and are no longer (a manual operation moved them): their
    /// workers' reports must be refused.
    pub released: Vec<StepId>,
}

/// Submission details stored on the task row.
#[derive(Debug, Clone, Default)]
pub struct TaskOrigin {
    pub initiator: Option<String>,
    pub source_system: Option<String>,
    pub reason: Option<String>,
    pub tags: Option<Json>,
    /// An idempotent submission's identity (`tasker_tasks.identity_hash`).
    pub identity_hash: Option<String>,
    /// No step starts before this time (`submit_task(run_at:/delay:)`, see `schedule.rs`).
    pub run_at: Option<Timestamp>,
    /// Higher first when steps wait for workers (see `gate`); stored with the task
    /// (`TaskRecord::priority`), so a recovered or claimed task keeps it.
    pub priority: i32,
}

/// A step's live state (the orchestrator's copy of its row).
#[derive(Debug, Clone)]
pub struct LiveStep {
    pub id: StepId,
    pub state: State,
    pub attempts: u32,
    pub retry_limit: u32,
    pub retryable: bool,
    /// Handed to a worker (queued or running).
    pub in_process: bool,
    pub retry_scheduled: bool,
    pub results: Option<Arc<Json>>,
    pub started_at: Option<Timestamp>,
    /// sort_key of the step's most recent transition (0: none yet).
    pub sort_key: i32,
}

/// One running task.
pub struct LiveTask {
    pub id: TaskId,
    pub template: Arc<RegisteredTemplate>,
    pub context: Arc<Json>,
    pub state: State,
    pub steps: Vec<LiveStep>,
    pub(crate) dag: RuntimeDag,
    pub(crate) handed_out: u32,
    pub(crate) retries_pending: u32,
    pub(crate) completed: u32,
    /// sort_key of the task's most recent transition (0: none yet).
    pub sort_key: i32,
    /// A dedicated channel for this task's thread steps (a coordinator drives it), kept
    /// whole so shutdown can hand back what is queued on it.
    pub route: Option<(Sender<Routed>, Receiver<Routed>)>,
    /// At most this many steps handed out at once, across thread and Ractor pools (a
    /// coordinator's `max_parallel_steps`); ready steps beyond it wait in `deferred`.
    pub(crate) max_parallel: Option<u32>,
    pub(crate) deferred: Vec<u32>,
    /// Its steps' priority in the dispatch gate (higher first), as submitted; a recovered
    /// or claimed task reads it back from the store (`TaskRecord::priority`).
    pub(crate) priority: i32,
    pub(crate) last_error: Option<(String, String)>,
    /// No step is handed out before this time (`schedule.rs`).
    pub(crate) run_at: Option<Timestamp>,
}

impl LiveTask {
    /// A new pending task whose steps have ids `step_ids` (in template order). Records the
    /// store change that creates it in `fx`.
    pub fn create(
        id: TaskId,
        step_ids: Vec<StepId>,
        template: Arc<RegisteredTemplate>,
        context: Arc<Json>,
        origin: TaskOrigin,
        now: Timestamp,
        fx: &mut Effects,
    ) -> LiveTask {
        let n = template.graph.len();
        let mut steps = Vec::with_capacity(n);
        let mut records = Vec::with_capacity(n);
        let mut edges = Vec::new();
        let run_at = origin.run_at.filter(|at| *at > now);
        for (i, st) in template.template.step_templates.iter().enumerate() {
            let step_id = step_ids[i];
            steps.push(LiveStep {
                id: step_id,
                state: State::Pending,
                attempts: 0,
                retry_limit: st.default_retry_limit,
                retryable: st.default_retryable,
                in_process: false,
                retry_scheduled: false,
                results: None,
                started_at: None,
                sort_key: 0,
            });
            let mut record = StepRecord {
                // 0, not NULL, as Tasker creates steps: its readiness function compares
                // `attempts < retry_limit` without COALESCE, so a NULL would keep a new step
                // from ever being ready there (issue 19).
                attempts: Some(0),
                ..StepRecord::of_template(
                    step_id,
                    id,
                    template.graph.name(i as u32).clone(),
                    i as u32,
                    st,
                    now,
                )
            };
            if let Some(at) = run_at {
                if template.graph.parents(i as u32).is_empty() {
                    schedule::hold_until(&mut record, at, now);
                }
            }
            records.push(record);
            for &p in template.graph.parents(i as u32) {
                edges.push((step_ids[p as usize], step_id));
            }
        }
        let priority = origin.priority;
        fx.changes.push(Change::CreateTask(Box::new(NewTask {
            task: TaskRecord {
                initiator: origin.initiator,
                source_system: origin.source_system,
                reason: origin.reason,
                tags: origin.tags.unwrap_or_else(|| json!([])),
                priority,
                ..TaskRecord::new(id, template.key.clone(), context.clone(), now)
            },
            steps: records,
            edges,
            identity_hash: origin.identity_hash,
        })));
        let task = LiveTask {
            id,
            dag: RuntimeDag::new(&template.graph),
            template,
            context,
            state: State::Pending,
            steps,
            handed_out: 0,
            retries_pending: 0,
            completed: 0,
            sort_key: 0,
            route: None,
            max_parallel: None,
            deferred: Vec::new(),
            priority,
            last_error: None,
            run_at,
        };
        task.emit(fx, LifecycleEvent::TaskInitializeRequested, None, |_| {});
        task
    }

    pub(crate) fn emit(
        &self,
        fx: &mut Effects,
        name: LifecycleEvent,
        step: Option<u32>,
        fill: impl FnOnce(&mut Event),
    ) {
        if !fx.events_wanted.wants(name) {
            return;
        }
        let mut e = Event::task(
            name,
            self.id,
            self.template.task_name.clone(),
            self.template.namespace.clone(),
        );
        if let Some(i) = step {
            e.step_id = Some(self.steps[i as usize].id);
            e.step_name = Some(self.template.graph.name(i).clone());
            e.attempt = Some(self.steps[i as usize].attempts + 1);
        }
        fill(&mut e);
        fx.events.push(e);
    }

    pub(crate) fn subject(&self, i: u32) -> String {
        format!(
            "step {} ({}) of task {}",
            self.steps[i as usize].id,
            self.template.graph.name(i),
            self.id
        )
    }

    pub(crate) fn move_step(
        &mut self,
        i: u32,
        to: State,
        meta: TransitionMeta,
        at: Timestamp,
        patch: StepPatch,
        fx: &mut Effects,
    ) {
        let step = &mut self.steps[i as usize];
        let from = step.state;
        debug_assert!(from.step_can_transition_to(to), "{from} -> {to}");
        step.state = to;
        step.sort_key += 1;
        fx.changes.push(Change::StepTransition {
            task_id: self.id,
            step_id: step.id,
            from: Some(from),
            to,
            meta,
            at,
            patch,
            expect_sort_key: None,
        });
    }

    /// Moves step `i` for the engine's own `reason`, writing only its `in_process` flag.
    pub(crate) fn move_step_flagged(
        &mut self,
        i: u32,
        to: State,
        reason: &'static str,
        in_process: bool,
        at: Timestamp,
        fx: &mut Effects,
    ) {
        let patch = StepPatch {
            in_process: Some(in_process),
            ..StepPatch::default()
        };
        self.move_step(i, to, TransitionMeta::engine(reason), at, patch, fx);
    }

    pub(crate) fn move_task(
        &mut self,
        to: State,
        meta: TransitionMeta,
        at: Timestamp,
        fx: &mut Effects,
    ) {
        let from = self.state;
        self.state = to;
        self.sort_key += 1;
        fx.changes.push(Change::TaskTransition {
            task_id: self.id,
            from: Some(from),
            to,
            meta,
            at,
            complete: (to == State::Complete).then_some(true),
            expect_sort_key: None,
        });
    }
}

/// The columns of a step that reached its end with `results` at `at` (a worker's success,
/// or a manual completion).
pub(crate) fn processed(results: Arc<Json>, at: Timestamp) -> StepPatch {
    StepPatch {
        in_process: Some(false),
        processed: Some(true),
        processed_at: Some(at),
        results: Some(results),
        ..StepPatch::default()
    }
}
