//! One running task and the rules that move it.
//!
//! Every method here is a plain state change that records what it did in [`Effects`]
//! (store changes, events, steps to hand out, retries to schedule, whether the task ended).
//! The orchestrator actor applies the effects; keeping the rules out of the actor lets them
//! be tested without a running System.

use crate::registry::RegisteredTemplate;
use crate::work::{ReadyStep, Routed, StepFailure};
use crossbeam_channel::{Receiver, Sender};
use serde_json::{json, Value as Json};
use std::sync::Arc;
use std::time::Duration;
use tasker_event_bus::{Event, EventMask, EventName, LifecycleEvent};
use tasker_model::retry::retry_delay_seconds;
use tasker_model::{State, StepId, TaskId, TaskerError, TaskerResult, Timestamp};
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
    /// whole so shutdown can take back what is queued on it.
    pub route: Option<(Sender<Routed>, Receiver<Routed>)>,
    /// At most this many steps handed out at once, across thread and Ractor pools (a
    /// coordinator's `max_parallel_steps`); ready steps beyond it wait in `deferred`.
    pub(crate) max_parallel: Option<u32>,
    pub(crate) deferred: Vec<u32>,
    pub(crate) last_error: Option<(String, String)>,
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
            records.push(StepRecord {
                step_id,
                task_id: id,
                name: template.graph.name(i as u32).clone(),
                template_index: i as u32,
                retryable: st.default_retryable,
                retry_limit: st.default_retry_limit,
                in_process: false,
                processed: false,
                processed_at: None,
                // 0, not NULL, as Tasker creates steps: its readiness function compares
                // `attempts < retry_limit` without COALESCE, so a NULL would keep a new step
                // from ever being ready there (issue 19).
                attempts: Some(0),
                last_attempted_at: None,
                backoff_request_seconds: None,
                results: None,
                skippable: st.skippable,
                created_at: now,
                updated_at: now,
            });
            for &p in template.graph.parents(i as u32) {
                edges.push((step_ids[p as usize], step_id));
            }
        }
        fx.changes.push(Change::CreateTask(Box::new(NewTask {
            task: TaskRecord {
                task_id: id,
                template: template.key.clone(),
                context: context.clone(),
                initiator: origin.initiator,
                source_system: origin.source_system,
                reason: origin.reason,
                tags: origin.tags.unwrap_or_else(|| json!([])),
                complete: false,
                requested_at: now,
                created_at: now,
                updated_at: now,
            },
            steps: records,
            edges,
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
            last_error: None,
        };
        task.emit(fx, LifecycleEvent::TaskInitializeRequested, None, |_| {});
        task
    }

    /// Steps handed out (queued or running).
    pub fn handed_out(&self) -> u32 {
        self.handed_out
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

    /// Starts a pending task: pending → in_progress, and its root steps become ready.
    pub fn start(&mut self, now: Timestamp, fx: &mut Effects) -> TaskerResult<()> {
        if self.state != State::Pending {
            return Err(TaskerError::task_transition(
                format!("task {}", self.id),
                self.state,
                State::InProgress,
            ));
        }
        self.move_task(State::InProgress, TransitionMeta::engine("start"), now, fx);
        self.emit(fx, LifecycleEvent::TaskStartRequested, None, |_| {});
        let roots: Vec<u32> = self.template.graph.roots().collect();
        fx.dispatch.extend(roots);
        self.discovered(fx);
        Ok(())
    }

    pub(crate) fn discovered(&self, fx: &mut Effects) {
        if fx
            .events_wanted
            .wants(LifecycleEvent::WorkflowViableStepsDiscovered)
            && !fx.dispatch.is_empty()
        {
            let ids: Vec<i64> = fx
                .dispatch
                .iter()
                .map(|&i| self.steps[i as usize].id.0)
                .collect();
            let names: Vec<&str> = fx
                .dispatch
                .iter()
                .map(|&i| &**self.template.graph.name(i))
                .collect();
            let payload = Arc::new(json!({"step_ids": ids, "step_names": names}));
            self.emit(
                fx,
                LifecycleEvent::WorkflowViableStepsDiscovered,
                None,
                |e| e.payload = Some(payload),
            );
        }
    }

    /// Limits `dispatch` to what `max_parallel` leaves room for: steps deferred earlier go
    /// first, steps no longer pending (cancelled, finished, already out) are dropped, and
    /// the rest wait in `deferred` for a step to finish.
    pub(crate) fn admit(&mut self, dispatch: &mut Vec<u32>) {
        let Some(cap) = self.max_parallel else {
            return;
        };
        let mut queue = std::mem::take(&mut self.deferred);
        queue.append(dispatch);
        let mut seen = vec![false; self.steps.len()];
        queue.retain(|&i| {
            let step = &self.steps[i as usize];
            let keep = !seen[i as usize] && step.state == State::Pending && !step.in_process;
            seen[i as usize] = true;
            keep
        });
        let room = cap.saturating_sub(self.handed_out) as usize;
        if queue.len() > room {
            self.deferred = queue.split_off(room);
        }
        *dispatch = queue;
    }

    /// Marks step `i` handed out and builds what the worker receives.
    pub fn hand_out(&mut self, i: u32, fx: &mut Effects) -> ReadyStep {
        let step = &mut self.steps[i as usize];
        debug_assert!(step.state == State::Pending && !step.in_process);
        // Queued in this process only: nothing is written until a worker takes it (see
        // `started`), so a crash leaves a queued step plain pending, to run again without an
        // attempt counted against it.
        step.in_process = true;
        self.handed_out += 1;
        let (step_id, attempts, retry_limit) = (step.id, step.attempts, step.retry_limit);
        self.emit(fx, LifecycleEvent::StepExecutionRequested, Some(i), |_| {});
        let parent_results = self
            .template
            .graph
            .parents(i)
            .iter()
            .map(|&p| {
                let results = self.steps[p as usize]
                    .results
                    .clone()
                    .unwrap_or_else(|| Arc::new(Json::Null));
                (self.template.graph.name(p).clone(), results)
            })
            .collect();
        ReadyStep {
            task_id: self.id,
            step_id,
            index: i,
            attempt: attempts + 1,
            retry_limit,
            template: self.template.clone(),
            task_context: self.context.clone(),
            parent_results,
        }
    }

    /// A worker began step `i`: pending → in_progress. A stale notice is ignored.
    pub fn started(&mut self, i: u32, at: Timestamp, fx: &mut Effects) {
        let step = &self.steps[i as usize];
        if step.state != State::Pending || !step.in_process {
            return;
        }
        self.steps[i as usize].started_at = Some(at);
        let patch = StepPatch {
            in_process: Some(true),
            ..StepPatch::default()
        };
        self.move_step(
            i,
            State::InProgress,
            TransitionMeta::engine("handler_started"),
            at,
            patch,
            fx,
        );
        self.emit(fx, LifecycleEvent::StepBeforeHandle, Some(i), |_| {});
    }

    fn require_running(
        &mut self,
        i: u32,
        to: State,
        at: Timestamp,
        fx: &mut Effects,
    ) -> TaskerResult<()> {
        if self.steps[i as usize].state == State::Pending && self.steps[i as usize].in_process {
            self.started(i, at, fx);
        }
        let step = &self.steps[i as usize];
        if step.state != State::InProgress {
            return Err(TaskerError::step_transition(
                self.subject(i),
                step.state,
                to,
            ));
        }
        Ok(())
    }

    fn duration_ms(&self, i: u32, at: Timestamp) -> Option<f64> {
        self.steps[i as usize]
            .started_at
            .map(|s| at.seconds_since(s) * 1000.0)
    }

    /// Step `i` succeeded with `results`; its children whose parents are now all satisfied
    /// become ready (unless `dispatch_children` is false, during shutdown).
    pub fn complete(
        &mut self,
        i: u32,
        results: Arc<Json>,
        at: Timestamp,
        dispatch_children: bool,
        fx: &mut Effects,
    ) -> TaskerResult<()> {
        self.require_running(i, State::Complete, at, fx)?;
        let duration_ms = self.duration_ms(i, at);
        self.steps[i as usize].in_process = false;
        self.steps[i as usize].results = Some(results.clone());
        self.handed_out -= 1;
        self.completed += 1;
        let meta = TransitionMeta {
            duration_ms,
            attempt: Some(self.steps[i as usize].attempts + 1),
            ..TransitionMeta::engine("handler_succeeded")
        };
        let patch = StepPatch {
            in_process: Some(false),
            processed: Some(true),
            processed_at: Some(at),
            results: Some(results),
            ..StepPatch::default()
        };
        self.move_step(i, State::Complete, meta, at, patch, fx);
        self.emit(fx, LifecycleEvent::StepCompleted, Some(i), |e| {
            e.duration_ms = duration_ms
        });

        let mut ready = Vec::new();
        self.dag.satisfy(&self.template.graph, i, &mut ready);
        if dispatch_children {
            for child in ready {
                let c = &self.steps[child as usize];
                if c.state == State::Pending && !c.in_process {
                    fx.dispatch.push(child);
                }
            }
            self.discovered(fx);
        }
        self.check_finished(at, fx);
        Ok(())
    }

    /// Step `i` failed. It is retried after the backoff while it is retryable and below its
    /// retry limit; otherwise it stays in error, and the task fails once nothing else can run.
    pub fn fail(
        &mut self,
        i: u32,
        failure: &StepFailure,
        at: Timestamp,
        backoff_scale: f64,
        fx: &mut Effects,
    ) -> TaskerResult<()> {
        self.require_running(i, State::Error, at, fx)?;
        let duration_ms = self.duration_ms(i, at);
        let step = &mut self.steps[i as usize];
        step.attempts += 1;
        step.in_process = false;
        if !failure.retryable {
            step.retryable = false;
        }
        let attempts = step.attempts;
        let will_retry = step.retryable && attempts < step.retry_limit;
        self.handed_out -= 1;
        self.last_error = Some((failure.error_class.clone(), failure.message.clone()));
        let meta = TransitionMeta {
            error_class: Some(failure.error_class.clone()),
            error_message: Some(failure.message.clone()),
            duration_ms,
            attempt: Some(attempts),
            extra: failure.details.clone(),
            ..TransitionMeta::engine(if !failure.retryable {
                "permanent_error"
            } else if will_retry {
                "handler_failed"
            } else {
                "retries_exhausted"
            })
        };
        let patch = StepPatch {
            in_process: Some(false),
            attempts: Some(attempts),
            last_attempted_at: Some(at),
            retryable: (!failure.retryable).then_some(false),
            backoff_request_seconds: Some(failure.retry_after.map(|s| s.ceil() as i64)),
            ..StepPatch::default()
        };
        self.move_step(i, State::Error, meta, at, patch, fx);
        let fill = |e: &mut Event| {
            e.attempt = Some(attempts);
            e.duration_ms = duration_ms;
            e.error_class = Some(failure.error_class.clone());
            e.error_message = Some(failure.message.clone());
            e.error_details = failure.details.clone().map(Arc::new);
        };
        self.emit(fx, LifecycleEvent::StepFailed, Some(i), fill);
        if will_retry {
            let delay = retry_delay_seconds(
                attempts,
                failure.retry_after,
                fastrand::f64(),
                backoff_scale,
            );
            self.steps[i as usize].retry_scheduled = true;
            self.retries_pending += 1;
            fx.retries.push((i, Duration::from_secs_f64(delay)));
            self.emit(fx, LifecycleEvent::StepRetryRequested, Some(i), |e| {
                e.attempt = Some(attempts + 1);
                e.payload = Some(Arc::new(json!({"retry_in_seconds": delay})));
            });
        }
        self.check_finished(at, fx);
        Ok(())
    }

    /// A scheduled retry of step `i` is due: error → pending, and hand it out again.
    pub fn retry_due(&mut self, i: u32, at: Timestamp, dispatch: bool, fx: &mut Effects) {
        let step = &self.steps[i as usize];
        if self.state != State::InProgress || !step.retry_scheduled || step.state != State::Error {
            return;
        }
        self.steps[i as usize].retry_scheduled = false;
        self.retries_pending -= 1;
        let attempt = self.steps[i as usize].attempts + 1;
        let meta = TransitionMeta {
            attempt: Some(attempt),
            ..TransitionMeta::engine("retry")
        };
        self.move_step(i, State::Pending, meta, at, StepPatch::default(), fx);
        if dispatch {
            fx.dispatch.push(i);
        }
    }

    /// Finishes the task when every step is satisfied (complete), or when nothing is handed
    /// out and no retry is scheduled yet some step is unsatisfied (error).
    pub(crate) fn check_finished(&mut self, at: Timestamp, fx: &mut Effects) {
        if self.state != State::InProgress {
            return;
        }
        let total = self.steps.len() as u32;
        if self.completed == total {
            self.move_task(
                State::Complete,
                TransitionMeta::engine("all_steps_complete"),
                at,
                fx,
            );
            self.emit(fx, LifecycleEvent::TaskCompleted, None, |_| {});
            fx.finished = Some(State::Complete);
        } else if self.handed_out == 0
            && self.retries_pending == 0
            && fx.dispatch.is_empty()
            && self.deferred.is_empty()
        {
            let (class, message) = self.last_error.clone().unwrap_or_default();
            let meta = TransitionMeta {
                error_class: Some(class.clone()),
                error_message: Some(message.clone()),
                ..TransitionMeta::engine("steps_failed")
            };
            self.move_task(State::Error, meta, at, fx);
            self.emit(fx, LifecycleEvent::TaskFailed, None, |e| {
                e.error_class = Some(class);
                e.error_message = Some(message);
            });
            fx.finished = Some(State::Error);
        }
    }

    /// Takes back step `i`, which was queued and never started: it stays pending with
    /// `in_process` cleared, so it runs when the task is next driven.
    pub fn take_back_queued(&mut self, i: u32) {
        let step = &mut self.steps[i as usize];
        if !step.in_process || step.state != State::Pending {
            return;
        }
        // Its hand-out was never written (see `hand_out`): only memory changes.
        step.in_process = false;
        self.handed_out -= 1;
    }

    /// Takes back step `i`, which a worker started and did not finish before the engine
    /// stopped: in_progress → error with reason `engine_stopped`, so it runs again (at least
    /// once) and its history shows why. Attempts are not counted: the handler did not fail.
    pub fn take_back_started(&mut self, i: u32, at: Timestamp, fx: &mut Effects) {
        if self.steps[i as usize].state != State::InProgress {
            return;
        }
        self.steps[i as usize].in_process = false;
        self.handed_out -= 1;
        let patch = StepPatch {
            in_process: Some(false),
            ..StepPatch::default()
        };
        self.move_step(
            i,
            State::Error,
            TransitionMeta::engine("engine_stopped"),
            at,
            patch,
            fx,
        );
    }

    /// A custom event published by a handler of this task, checked against the template's
    /// `custom_events` when it lists them.
    pub fn custom_event(
        &self,
        i: u32,
        name: &str,
        payload: Arc<Json>,
        fx: &mut Effects,
    ) -> TaskerResult<()> {
        if let Some(allowed) = &self.template.template.custom_events {
            if !allowed.iter().any(|a| a == name) {
                return Err(TaskerError::validation(
                    format!("custom event '{name}' from {}", self.subject(i)),
                    format!(
                        "not declared in the template's custom_events ({})",
                        allowed.join(", ")
                    ),
                ));
            }
        }
        if fx.events_wanted.wants_custom() {
            let mut e = Event::named(
                EventName::Custom(Arc::from(name)),
                self.id,
                self.template.task_name.clone(),
                self.template.namespace.clone(),
            );
            e.step_id = Some(self.steps[i as usize].id);
            e.step_name = Some(self.template.graph.name(i).clone());
            e.payload = Some(payload);
            fx.events.push(e);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tasker_model::TaskTemplate;

    fn task(yaml: &str) -> (LiveTask, Effects) {
        let t = TaskTemplate::from_yaml(yaml, "t.yaml").unwrap();
        let reg = Arc::new(RegisteredTemplate::compile(t).unwrap());
        let mut fx = Effects {
            events_wanted: EventMask::ALL,
            ..Effects::default()
        };
        let lt = LiveTask::create(
            TaskId(1),
            vec![StepId(10), StepId(11)],
            reg,
            Arc::new(json!({})),
            TaskOrigin::default(),
            Timestamp::now(),
            &mut fx,
        );
        (lt, fx)
    }

    const CHAIN: &str = "name: c\nstep_templates:\n - {name: a, handler_class: H, default_retry_limit: 2}\n - {name: b, handler_class: H, depends_on_step: a}\n";

    fn names(fx: &Effects) -> Vec<&str> {
        fx.events.iter().map(|e| e.name()).collect()
    }

    #[test]
    fn max_parallel_defers_ready_steps_until_one_finishes() {
        let pair = "name: p\nstep_templates:\n - {name: a, handler_class: H}\n - {name: b, handler_class: H}\n";
        let (mut t, mut fx) = task(pair);
        let now = Timestamp::now();
        t.max_parallel = Some(1);
        t.start(now, &mut fx).unwrap();
        let mut dispatch = std::mem::take(&mut fx.dispatch);
        assert_eq!(dispatch, vec![0, 1]);
        t.admit(&mut dispatch);
        assert_eq!((dispatch.clone(), t.deferred.clone()), (vec![0], vec![1]));
        t.hand_out(0, &mut fx);
        t.started(0, now, &mut fx);
        t.complete(0, Arc::new(json!(null)), now, true, &mut fx)
            .unwrap();
        // Not finished, and not failed: b waits its turn.
        assert_eq!(fx.finished, None);
        let mut dispatch = std::mem::take(&mut fx.dispatch);
        t.admit(&mut dispatch);
        assert_eq!((dispatch, t.deferred.is_empty()), (vec![1], true));
        t.hand_out(1, &mut fx);
        t.complete(1, Arc::new(json!(null)), now, true, &mut fx)
            .unwrap();
        assert_eq!(fx.finished, Some(State::Complete));
    }

    #[test]
    fn a_chain_runs_parent_then_child_then_completes() {
        let (mut t, mut fx) = task(CHAIN);
        let now = Timestamp::now();
        t.start(now, &mut fx).unwrap();
        assert_eq!(fx.dispatch, vec![0]);
        fx.dispatch.clear();
        let r = t.hand_out(0, &mut fx);
        assert_eq!((r.step_id, r.attempt), (StepId(10), 1));
        t.started(0, now, &mut fx);
        t.complete(0, Arc::new(json!({"x": 1})), now, true, &mut fx)
            .unwrap();
        assert_eq!(fx.dispatch, vec![1]);
        fx.dispatch.clear();
        let r = t.hand_out(1, &mut fx);
        assert_eq!(r.parent_results[0].0.as_ref(), "a");
        assert_eq!(*r.parent_results[0].1, json!({"x": 1}));
        t.complete(1, Arc::new(json!(null)), now, true, &mut fx)
            .unwrap();
        assert_eq!(fx.finished, Some(State::Complete));
        assert_eq!(
            names(&fx),
            vec![
                "task.initialize_requested",
                "task.start_requested",
                "workflow.viable_steps_discovered",
                "step.execution_requested",
                "step.before_handle",
                "step.completed",
                "workflow.viable_steps_discovered",
                "step.execution_requested",
                "step.before_handle",
                "step.completed",
                "task.completed"
            ]
        );
    }

    #[test]
    fn failures_retry_until_the_limit_then_the_task_fails() {
        let (mut t, mut fx) = task(CHAIN);
        let now = Timestamp::now();
        t.start(now, &mut fx).unwrap();
        fx.dispatch.clear();
        let boom = StepFailure {
            error_class: "Boom".into(),
            message: "no".into(),
            retryable: true,
            retry_after: None,
            details: None,
        };
        t.hand_out(0, &mut fx);
        t.fail(0, &boom, now, 1.0, &mut fx).unwrap();
        assert_eq!(fx.retries.len(), 1);
        let d = fx.retries[0].1.as_secs_f64();
        assert!((0.9..=1.1).contains(&d), "first retry after ~1 s, got {d}");
        assert_eq!(fx.finished, None);
        fx.dispatch.clear();
        t.retry_due(0, now, true, &mut fx);
        assert_eq!(fx.dispatch, vec![0]);
        fx.dispatch.clear();
        let r = t.hand_out(0, &mut fx);
        assert_eq!(r.attempt, 2);
        t.fail(0, &boom, now, 1.0, &mut fx).unwrap();
        assert_eq!(
            fx.retries.len(),
            1,
            "retry_limit 2 reached: no second retry"
        );
        assert_eq!(fx.finished, Some(State::Error));
        assert_eq!(t.steps[0].attempts, 2);
    }

    #[test]
    fn a_permanent_error_is_not_retried() {
        let (mut t, mut fx) = task(CHAIN);
        let now = Timestamp::now();
        t.start(now, &mut fx).unwrap();
        fx.dispatch.clear();
        t.hand_out(0, &mut fx);
        let perm = StepFailure {
            error_class: "Bad".into(),
            message: "card declined".into(),
            retryable: false,
            retry_after: None,
            details: None,
        };
        t.fail(0, &perm, now, 1.0, &mut fx).unwrap();
        assert!(fx.retries.is_empty());
        assert_eq!(fx.finished, Some(State::Error));
        assert!(!t.steps[0].retryable);
    }

    #[test]
    fn completing_a_step_that_is_not_running_is_refused() {
        let (mut t, mut fx) = task(CHAIN);
        let e = t
            .complete(0, Arc::new(json!(1)), Timestamp::now(), true, &mut fx)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("cannot move from pending to complete"),
            "{e}"
        );
    }

    #[test]
    fn requested_delay_is_used_for_the_retry() {
        let (mut t, mut fx) = task(CHAIN);
        let now = Timestamp::now();
        t.start(now, &mut fx).unwrap();
        t.hand_out(0, &mut fx);
        let f = StepFailure {
            error_class: "RateLimited".into(),
            message: "429".into(),
            retryable: true,
            retry_after: Some(7.0),
            details: None,
        };
        t.fail(0, &f, now, 1.0, &mut fx).unwrap();
        assert_eq!(fx.retries[0].1, Duration::from_secs(7));
    }
}
