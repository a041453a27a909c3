//! Idempotent submission ([`Engine::submit_identified`]): a submission with an identity
//! creates its task once; a repeat answers with the task already there.
//!
//! Who decides, in order: the gate (`crate::identity`), so threads of this engine submit
//! one identity one at a time; the store's read of `identity_hash`, for tasks committed
//! before (by this process or another); the unique index, for two processes racing (the
//! batch that lost is written without its task and the store names the winner).
//!
//! An identified task is created and started in one batch, but holds its steps until that
//! batch is committed and the task found to be the only one: a loser never hands out a
//! step, and a crash after the commit leaves a running task that recovery resumes.

use super::Engine;
use super::SubmitRequest;
use crate::identity::{Entry, Identity};
use crate::orchestrator::{DropTasks, ReleaseTask};
use crossbeam_channel::bounded;
use std::time::{Duration, SystemTime};
use tasker_model::{TaskId, TaskerResult};

/// What an identified submission did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submitted {
    pub task_id: TaskId,
    /// False when a task with the same identity existed: `task_id` is that task.
    pub created: bool,
}

impl Engine {
    /// Submits `req` unless a task with its identity exists, waiting (up to `timeout`) until
    /// the task's creation is committed. `always_unique` is the plain durable submit.
    pub fn submit_identified(
        &self,
        req: SubmitRequest,
        identity: &Identity,
        timeout: Duration,
    ) -> TaskerResult<Submitted> {
        let template =
            self.registry
                .find(&req.name, req.namespace.as_deref(), req.version.as_deref())?;
        let labels = [
            req.initiator.as_deref(),
            req.source_system.as_deref(),
            req.reason.as_deref(),
        ];
        let Some(hash) = identity.hash(&template.key, &req.context, labels, SystemTime::now())
        else {
            let task_id = self.submit_durable(req)?.wait(timeout)?;
            return Ok(Submitted {
                task_id,
                created: true,
            });
        };
        let pending = match self.identities.enter(&hash) {
            Entry::Waiting(p) => {
                return Ok(Submitted {
                    task_id: p.wait(timeout)?,
                    created: false,
                })
            }
            Entry::First(p) => p,
        };
        let result = self.submit_first(req, &hash, timeout);
        let answer = result.as_ref().map(|s| s.task_id).map_err(Clone::clone);
        self.identities.settle(&hash, &pending, &answer);
        result
    }

    /// The submission that holds `hash` in this process: the stored task if there is one,
    /// else a new task, committed, then released unless another process stored one first.
    fn submit_first(
        &self,
        req: SubmitRequest,
        hash: &str,
        timeout: Duration,
    ) -> TaskerResult<Submitted> {
        if let Some(task_id) = self.store.task_with_identity(hash)? {
            return Ok(Submitted {
                task_id,
                created: false,
            });
        }
        let (tx, rx) = bounded(1);
        let task_id = self.submit_with(req, Some(tx), Some(hash.to_string()))?;
        let committed = super::wait::await_reply(
            &rx,
            timeout,
            &format!("identified submission of task {task_id}"),
        )?;
        let winner = match committed {
            Ok(()) => self.store.duplicate_of(task_id),
            Err(e) => match self.store.task_with_identity(hash)? {
                Some(other) if other != task_id => Some(other),
                _ => {
                    self.orchestrator.do_send(DropTasks(vec![task_id]));
                    return Err(tasker_model::TaskerError::Database(format!(
                        "task {task_id} was not stored, its creation's transaction failed: {e}"
                    )));
                }
            },
        };
        if let Some(winner) = winner {
            self.orchestrator.do_send(DropTasks(vec![task_id]));
            return Ok(Submitted {
                task_id: winner,
                created: false,
            });
        }
        // A client's task is not driven here: workers claim it once committed.
        if !self.submit_only {
            self.orchestrator.do_send(ReleaseTask(task_id));
        }
        Ok(Submitted {
            task_id,
            created: true,
        })
    }
}
