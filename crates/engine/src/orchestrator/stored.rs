//! Tasks the orchestrator brings in from the store: stored tasks taken over by recovery,
//! and a task a manual operation is about when this engine is not driving it.
//!
//! The store was read by the caller (the handle); this file must not read it.

use super::{Delivery, Operate, Orchestrator, Recover};
use crate::live_task::LiveTask;
use actix::prelude::*;
use tasker_model::{State, TaskerError, Timestamp};

impl Orchestrator {
    /// Restores each task (failing steps a crash interrupted) and resumes it; answers with
    /// the ids resumed, or the error when none could be.
    pub(super) fn recover(&mut self, msg: Recover, ctx: &mut Context<Self>) {
        let now = Timestamp::now();
        let mut resumed = Vec::new();
        let mut failure = None;
        for (view, template) in msg.tasks {
            let task_id = view.task.task_id;
            if self.tasks.contains_key(&task_id) {
                continue;
            }
            let mut fx = self.effects();
            match LiveTask::restore(&view, template, true, now, &mut fx) {
                Ok(mut task) => {
                    task.resume(now, self.links.backoff_scale, &mut fx);
                    self.tasks.insert(task_id, task);
                    self.apply(task_id, fx, ctx);
                    resumed.push(task_id);
                }
                Err(e) => failure = Some(e),
            }
        }
        let _ = msg.reply.send(match failure {
            Some(e) if resumed.is_empty() => Err(e),
            _ => Ok(resumed),
        });
    }

    /// Runs a manual operation; a task this engine is not driving is restored for it and
    /// kept only if the operation leaves it running. Answers once the change commits.
    pub(super) fn operate(&mut self, msg: Operate, ctx: &mut Context<Self>) {
        let now = Timestamp::now();
        let mut fx = self.effects();
        let brought_in = !self.tasks.contains_key(&msg.task_id);
        if brought_in {
            let Some((view, template)) = msg.stored else {
                let _ = msg.reply.send(Err(TaskerError::validation(
                    format!("task {}", msg.task_id),
                    "no such task in this engine's store",
                )));
                return;
            };
            match LiveTask::restore(&view, template, false, now, &mut fx) {
                Ok(task) => {
                    self.tasks.insert(msg.task_id, task);
                }
                Err(e) => {
                    let _ = msg.reply.send(Err(e));
                    return;
                }
            }
        }
        let task = self.tasks.get_mut(&msg.task_id).expect("present");
        if let Err(e) = task.operate(
            &msg.op,
            &msg.request,
            now,
            self.links.backoff_scale,
            &mut fx,
        ) {
            // Nothing moved; a task brought in only for this operation goes back out.
            if brought_in {
                self.tasks.remove(&msg.task_id);
            }
            let _ = msg.reply.send(Err(e));
            return;
        }
        if brought_in && task.state != State::InProgress && fx.finished.is_none() {
            // Brought in for the operation and still not running (e.g. results updated on
            // a finished task): the engine does not drive it.
            self.tasks.remove(&msg.task_id);
        }
        if self.stopping {
            fx.dispatch.clear();
        }
        if self.links.submit_only && fx.finished.is_none() {
            // A client runs no handlers: the task goes to a worker (the handle hands its
            // claim back once this commits).
            fx.dispatch.clear();
            self.tasks.remove(&msg.task_id);
        }
        self.apply_with(msg.task_id, fx, Delivery::Alone(msg.reply), ctx);
    }
}
